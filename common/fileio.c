/* SPDX-License-Identifier: MIT */
/* Durable writes, pid lock files and installed data folders (fileio.h). */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

int file_write_all(int fd, const void *data, size_t n)
{
	const uint8_t *p = data;

	while (n > 0) {
		ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int file_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int file_lock_pid(const char *path, int *fd, char *holder, size_t holder_len)
{
	char pid[32];
	int f, n;

	if (holder_len)
		holder[0] = '\0';
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (f < 0)
		return -errno;
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		if (e == EWOULDBLOCK && holder_len) {
			n = (int)pread(f, holder, holder_len - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
		}
		close(f);
		return e == EWOULDBLOCK ? -EBUSY : -e;
	}
	*fd = f;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	return ftruncate(f, 0) < 0 || pwrite(f, pid, (size_t)n, 0) != n ? 1 : 0;
}

bool file_beside_exe(const char *rel, const char *probe, char *out, size_t len)
{
	char exe[PATH_MAX], path[PATH_MAX * 2];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int k;

	if (n <= 0)
		return false;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return false;
	*slash = '\0';
	k = snprintf(path, sizeof(path), "%s/%s", exe, rel);
	if (k < 0 || (size_t)k >= len)
		return false;
	snprintf(path + k, sizeof(path) - (size_t)k, "/%s", probe);
	if (access(path, R_OK) < 0)
		return false;
	memcpy(out, path, (size_t)k);
	out[k] = '\0';
	return true;
}
