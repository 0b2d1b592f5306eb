/* SPDX-License-Identifier: MIT */
/* The rendezvous line (base64 of rank 0's NCCL id) and the file the other
 * ranks read it from. */
#include "rendezvous.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char rdv_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int rdv_line_format(const uint8_t *data, size_t len, char *buf, size_t buflen)
{
	size_t need = sizeof(RDV_KEYWORD) + (len + 2) / 3 * 4 + 1, o = 0;

	if (len == 0 || len > RDV_DATA_MAX)
		return -EINVAL;
	if (buflen < need + 1)
		return -ENOSPC;
	o = (size_t)snprintf(buf, buflen, "%s ", RDV_KEYWORD);
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < len ? (uint32_t)data[i + 1] << 8 : 0) |
			     (i + 2 < len ? data[i + 2] : 0);

		buf[o++] = rdv_b64[(v >> 18) & 63];
		buf[o++] = rdv_b64[(v >> 12) & 63];
		buf[o++] = i + 1 < len ? rdv_b64[(v >> 6) & 63] : '=';
		buf[o++] = i + 2 < len ? rdv_b64[v & 63] : '=';
	}
	buf[o++] = '\n';
	buf[o] = '\0';
	return (int)o;
}

static int rdv_b64_value(char c)
{
	const char *p = c ? strchr(rdv_b64, c) : NULL;

	return p ? (int)(p - rdv_b64) : -1;
}

/* Decode one 4-character group at s; returns the bytes it holds (1-3) or -1. */
static int rdv_group(const char *s, bool last, uint8_t out[3])
{
	int v[4], pad = 0;

	for (int i = 0; i < 4; i++) {
		if (s[i] == '=' && last && i >= 2) {
			pad++;
			v[i] = 0;
			continue;
		}
		if (pad || (v[i] = rdv_b64_value(s[i])) < 0)
			return -1;
	}
	out[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	out[1] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
	out[2] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	return 3 - pad;
}

int rdv_data_decode(const char *s, size_t b64, size_t col, uint8_t *data, size_t cap, size_t *n,
		    char *err, size_t errlen)
{
	size_t got = 0;

	if (b64 == 0 || b64 % 4 || b64 / 4 * 3 > RDV_DATA_MAX + 2) {
		snprintf(err, errlen, "rendezvous data must be 4 to %d base64 characters in groups of 4, got %zu",
			 (RDV_DATA_MAX + 2) / 3 * 4, b64);
		return -EINVAL;
	}
	for (size_t i = 0; i < b64; i += 4) {
		uint8_t bytes[3];
		int k = rdv_group(s + i, i + 4 == b64, bytes);

		if (k < 0) {
			snprintf(err, errlen, "bad base64 in group at column %zu", col + i);
			return -EINVAL;
		}
		if (got + (size_t)k > cap) {
			snprintf(err, errlen, "rendezvous data longer than %zu bytes", cap);
			return -EINVAL;
		}
		memcpy(data + got, bytes, (size_t)k);
		got += (size_t)k;
	}
	*n = got;
	return 0;
}

int rdv_line_parse(const char *line, size_t len, uint8_t *data, size_t cap, size_t *n, char *err,
		   size_t errlen)
{
	size_t kw = sizeof(RDV_KEYWORD) - 1;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len < kw + 1 || memcmp(line, RDV_KEYWORD, kw) != 0 || line[kw] != ' ') {
		snprintf(err, errlen, "not a rendezvous line");
		return -EINVAL;
	}
	return rdv_data_decode(line + kw + 1, len - kw - 1, kw + 2, data, cap, n, err, errlen);
}

int rdv_file_write(const char *path, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	return rdv_file_write_as(path, data, len, (uid_t)-1, (gid_t)-1, err, errlen);
}

int rdv_file_write_as(const char *path, const uint8_t *data, size_t len, uid_t uid, gid_t gid,
		      char *err, size_t errlen)
{
	bool given = uid != (uid_t)-1 || gid != (gid_t)-1;
	char line[RDV_LINE_MAX], tmp[4096];
	int n = rdv_line_format(data, len, line, sizeof(line)), fd, rc = 0;

	if (n < 0) {
		snprintf(err, errlen, "rendezvous data of %zu bytes cannot be written", len);
		return n;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, given ? 0600 : 0644);
	if (fd < 0 || (given && fchown(fd, uid, gid) < 0) || write(fd, line, (size_t)n) != n ||
	    fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-rc));
		unlink(tmp);
	}
	return rc;
}

static double rdv_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int rdv_file_wait(const char *path, double timeout_s, volatile sig_atomic_t *stop, uint8_t *data,
		  size_t cap, size_t *n, char *err, size_t errlen)
{
	double end = rdv_now() + timeout_s;

	for (;;) {
		char line[RDV_LINE_MAX + 1];
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t r = read(fd, line, RDV_LINE_MAX);

			close(fd);
			/* the writer renames a complete file in place, so a file is whole */
			if (r > 0) {
				int rc = rdv_line_parse(line, (size_t)r, data, cap, n, err, errlen);

				if (rc < 0) {
					char why[160];

					snprintf(why, sizeof(why), "%s", err);
					snprintf(err, errlen, "%s: %s", path, why);
				}
				return rc;
			}
		}
		if (stop && *stop) {
			snprintf(err, errlen, "%s: stopped while waiting for the rendezvous", path);
			return -EINTR;
		}
		if (rdv_now() >= end) {
			snprintf(err, errlen, "%s: no rendezvous from rank 0 within %g s", path, timeout_s);
			return -ETIMEDOUT;
		}
		usleep(50000);
	}
}
