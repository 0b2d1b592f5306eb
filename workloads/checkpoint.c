/* SPDX-License-Identifier: MIT */
/* Checkpoint files: header encoding with CRC-32C, atomic writes, strict
 * reads with clear errors, finding the newest usable file and pruning. */
#include "checkpoint.h"

#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_TENSORS 2
#define CKPT_SUFFIX ".hckpt"
/* Floats per tensor a file can describe: its size must fit an off_t. */
#define CKPT_NFLOATS_MAX (((uint64_t)INT64_MAX - CKPT_HEADER_SIZE) / (CKPT_TENSORS * 4))

/* ---- CRC-32C, slicing by 8 ---- */

static uint32_t ckpt_table[8][256];
static bool ckpt_table_ready;

static void ckpt_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		ckpt_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			ckpt_table[t][i] = (ckpt_table[t - 1][i] >> 8) ^ ckpt_table[0][ckpt_table[t - 1][i] & 0xff];
	ckpt_table_ready = true;
}

uint32_t ckpt_crc32c(uint32_t crc, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (!ckpt_table_ready)
		ckpt_table_init();
	crc = ~crc;
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				     (uint32_t)p[3] << 24);

		crc = ckpt_table[7][lo & 0xff] ^ ckpt_table[6][(lo >> 8) & 0xff] ^
		      ckpt_table[5][(lo >> 16) & 0xff] ^ ckpt_table[4][lo >> 24] ^
		      ckpt_table[3][p[4]] ^ ckpt_table[2][p[5]] ^ ckpt_table[1][p[6]] ^
		      ckpt_table[0][p[7]];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ ckpt_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ---- header encoding ---- */

static void put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t get64(const uint8_t *b)
{
	return (uint64_t)get32(b) | (uint64_t)get32(b + 4) << 32;
}

static void ckpt_header_encode(uint8_t *h, const struct ckpt_meta *m, uint32_t payload_crc)
{
	memset(h, 0, CKPT_HEADER_SIZE);
	memcpy(h, CKPT_MAGIC, 8);
	put32(h + 8, CKPT_VERSION);
	put32(h + 12, CKPT_HEADER_SIZE);
	memcpy(h + 16, m->model, strnlen(m->model, CKPT_MODEL_MAX - 1));
	put32(h + 48, m->family);
	put32(h + 52, CKPT_TENSORS);
	put64(h + 56, m->seed);
	put64(h + 64, m->round);
	put64(h + 72, m->spec_hash);
	put64(h + 80, m->nfloats);
	put64(h + 88, m->nfloats * CKPT_TENSORS * 4);
	put32(h + 96, payload_crc);
	put32(h + 124, ckpt_crc32c(0, h, 124));
}

static bool ckpt_little_endian(void)
{
	const uint16_t one = 1;

	return *(const uint8_t *)&one == 1;
}

/* ---- writing ---- */

static int ckpt_mkdirs(const char *dir, char *err, size_t errlen)
{
	char buf[CKPT_PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf)) {
		snprintf(err, errlen, "checkpoint directory name is empty or too long");
		return -ENAMETOOLONG;
	}
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		/* the owner's only: a checkpoint holds the job's trained weights */
		if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
			int e = errno;

			snprintf(err, errlen, "%s: cannot create: %s", buf, strerror(e));
			return -e;
		}
		buf[i] = i < n ? '/' : '\0';
	}
	return 0;
}

/* Write header and payload to an open temp file and flush it to disk. */
static int ckpt_write_fd(int fd, const struct ckpt_meta *m, const float *params, const float *momentum)
{
	size_t bytes = m->nfloats * sizeof(float);
	uint8_t h[CKPT_HEADER_SIZE];
	uint32_t crc = ckpt_crc32c(ckpt_crc32c(0, params, bytes), momentum, bytes);
	int rc;

	ckpt_header_encode(h, m, crc);
	rc = file_write_all(fd, h, sizeof(h));
	if (rc == 0)
		rc = file_write_all(fd, params, bytes);
	if (rc == 0)
		rc = file_write_all(fd, momentum, bytes);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	return rc;
}

int ckpt_write(const char *dir, const struct ckpt_meta *m, const float *params,
	       const float *momentum, char *path, size_t pathlen, char *err, size_t errlen)
{
	char tmp[CKPT_PATH_MAX], final[CKPT_PATH_MAX];
	int fd, rc;

	if (!ckpt_little_endian()) {
		snprintf(err, errlen, "checkpoints are little-endian; this host is not");
		return -ENOTSUP;
	}
	rc = ckpt_mkdirs(dir, err, errlen);
	if (rc < 0)
		return rc;
	if ((size_t)snprintf(final, sizeof(final), "%s/round-%020" PRIu64 CKPT_SUFFIX, dir, m->round) >= sizeof(final) ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.round-%020" PRIu64 CKPT_SUFFIX ".tmp.%ld", dir,
			     m->round, (long)getpid()) >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	/* made anew: a name planted there (a link) is removed, never followed */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = ckpt_write_fd(fd, m, params, momentum);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, final) < 0)
		rc = -errno;
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(-rc));
		unlink(tmp);
		return rc;
	}
	rc = file_sync_dir(dir);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot sync the directory: %s", dir, strerror(-rc));
		return rc;
	}
	if (path)
		snprintf(path, pathlen, "%s", final);
	return 0;
}

/* ---- reading ---- */

/* Round of a checkpoint file name, or false for any other name. */
static bool ckpt_name_round(const char *name, uint64_t *round)
{
	size_t n = strlen(name);
	uint64_t r = 0;

	if (n != 6 + 20 + strlen(CKPT_SUFFIX) || strncmp(name, "round-", 6) != 0 ||
	    strcmp(name + 26, CKPT_SUFFIX) != 0)
		return false;
	for (int i = 6; i < 26; i++) {
		uint64_t digit = (uint64_t)(name[i] - '0');

		/* up to UINT64_MAX itself: every round has a name */
		if (name[i] < '0' || name[i] > '9' || r > (UINT64_MAX - digit) / 10)
			return false;
		r = r * 10 + digit;
	}
	*round = r;
	return true;
}

static const char *ckpt_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int ckpt_header_decode(const char *path, const uint8_t *h, struct ckpt_meta *m, char *err,
			      size_t errlen)
{
	uint32_t version = get32(h + 8);

	if (memcmp(h, CKPT_MAGIC, 8) != 0) {
		snprintf(err, errlen, "%s: not a Hare checkpoint (bad magic)", path);
		return -EBADMSG;
	}
	if (version != CKPT_VERSION) {
		snprintf(err, errlen, "%s: checkpoint format version %u, this worker reads version %d",
			 path, version, CKPT_VERSION);
		return -ENOTSUP;
	}
	if (get32(h + 124) != ckpt_crc32c(0, h, 124)) {
		snprintf(err, errlen, "%s: header checksum mismatch (file corrupt)", path);
		return -EBADMSG;
	}
	if (get32(h + 12) != CKPT_HEADER_SIZE || get32(h + 52) != CKPT_TENSORS) {
		snprintf(err, errlen, "%s: inconsistent header (header size %u, %u tensors)", path,
			 get32(h + 12), get32(h + 52));
		return -EBADMSG;
	}
	for (int i = 100; i < 124; i++) {
		if (h[i] != 0) {
			/* a later format of the same version may use them: say so
			 * rather than read the rest as if they did not matter */
			snprintf(err, errlen, "%s: reserved header byte %d is %u, not 0 (written by a "
				 "newer hare-worker?)", path, i, h[i]);
			return -ENOTSUP;
		}
	}
	if (h[16 + CKPT_MODEL_MAX - 1] != '\0') {
		snprintf(err, errlen, "%s: inconsistent header (model name not terminated)", path);
		return -EBADMSG;
	}
	/* Bound nfloats before any product with it: a wrapped payload size
	 * could otherwise match a small file. */
	if (get64(h + 80) > CKPT_NFLOATS_MAX || get64(h + 88) != get64(h + 80) * CKPT_TENSORS * 4) {
		snprintf(err, errlen, "%s: inconsistent header (%llu floats per tensor, %llu payload bytes)",
			 path, (unsigned long long)get64(h + 80), (unsigned long long)get64(h + 88));
		return -EBADMSG;
	}
	/* the model up to its NUL only, so that equal names give equal metas */
	memset(m, 0, sizeof(*m));
	memcpy(m->model, h + 16, strnlen((const char *)h + 16, CKPT_MODEL_MAX));
	m->family = get32(h + 48);
	m->seed = get64(h + 56);
	m->round = get64(h + 64);
	m->spec_hash = get64(h + 72);
	m->nfloats = get64(h + 80);
	return 0;
}

/* Open path and read its header; returns the fd (>= 0) or -errno. */
static int ckpt_open(const char *path, struct ckpt_meta *m, uint32_t *crc, off_t *size, char *err,
		     size_t errlen)
{
	uint8_t h[CKPT_HEADER_SIZE];
	struct stat st;
	ssize_t n;
	uint64_t name_round;
	/* O_NONBLOCK: a FIFO named like a checkpoint must not hang the worker */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EBADMSG;
	}
	n = pread(fd, h, sizeof(h), 0);
	if (n != (ssize_t)sizeof(h)) {
		rc = n < 0 ? -errno : -EBADMSG;
		snprintf(err, errlen, "%s: truncated: %zd bytes, a checkpoint header has %d", path,
			 n < 0 ? (ssize_t)0 : n, CKPT_HEADER_SIZE);
		close(fd);
		return rc;
	}
	rc = ckpt_header_decode(path, h, m, err, errlen);
	if (rc == 0 && (uint64_t)st.st_size != CKPT_HEADER_SIZE + m->nfloats * CKPT_TENSORS * 4) {
		snprintf(err, errlen, "%s: truncated: %lld bytes, the header says %llu", path,
			 (long long)st.st_size,
			 (unsigned long long)(CKPT_HEADER_SIZE + m->nfloats * CKPT_TENSORS * 4));
		rc = -EBADMSG;
	}
	/* The worker resumes at the round of the name ckpt_find chose, so a
	 * renamed file must not load another round's state under it. */
	if (rc == 0 && ckpt_name_round(ckpt_basename(path), &name_round) && name_round != m->round) {
		snprintf(err, errlen, "%s: the file name says round %llu, its header round %llu", path,
			 (unsigned long long)name_round, (unsigned long long)m->round);
		rc = -EBADMSG;
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*crc = get32(h + 96);
	*size = st.st_size;
	return fd;
}

int ckpt_read_meta(const char *path, struct ckpt_meta *m, char *err, size_t errlen)
{
	uint32_t crc;
	off_t size;
	int fd = ckpt_open(path, m, &crc, &size, err, errlen);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int ckpt_match(const char *path, const struct ckpt_meta *want, const struct ckpt_meta *got,
		      char *err, size_t errlen)
{
	if (strcmp(want->model, got->model) != 0 || want->family != got->family) {
		snprintf(err, errlen, "%s: made for model '%s', this worker runs '%s'", path, got->model,
			 want->model);
		return -EINVAL;
	}
	if (want->spec_hash != got->spec_hash || want->nfloats != got->nfloats) {
		snprintf(err, errlen, "%s: the proxy sizes differ (%llu parameters, this worker has %llu)",
			 path, (unsigned long long)got->nfloats, (unsigned long long)want->nfloats);
		return -EINVAL;
	}
	if (want->seed != got->seed) {
		snprintf(err, errlen, "%s: made with seed %llu, this job's seed is %llu", path,
			 (unsigned long long)got->seed, (unsigned long long)want->seed);
		return -EINVAL;
	}
	return 0;
}

static int ckpt_read_all(int fd, void *buf, size_t n, off_t at)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n > (1u << 30) ? (1u << 30) : n, at);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EBADMSG;
		p += r;
		n -= (size_t)r;
		at += r;
	}
	return 0;
}

int ckpt_read(const char *path, const struct ckpt_meta *want, float *params, float *momentum,
	      struct ckpt_meta *got, char *err, size_t errlen)
{
	size_t bytes = want->nfloats * sizeof(float);
	uint32_t crc, have;
	off_t size;
	int fd = ckpt_open(path, got, &crc, &size, err, errlen), rc;

	if (fd < 0)
		return fd;
	rc = ckpt_match(path, want, got, err, errlen);
	if (rc == 0) {
		rc = ckpt_read_all(fd, params, bytes, CKPT_HEADER_SIZE);
		if (rc == 0)
			rc = ckpt_read_all(fd, momentum, bytes, CKPT_HEADER_SIZE + (off_t)bytes);
		if (rc < 0)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	}
	close(fd);
	if (rc < 0)
		return rc;
	have = ckpt_crc32c(ckpt_crc32c(0, params, bytes), momentum, bytes);
	if (have != crc) {
		snprintf(err, errlen, "%s: payload checksum mismatch (stored %08x, computed %08x)", path,
			 crc, have);
		return -EBADMSG;
	}
	return 0;
}

/* ---- finding and pruning ---- */

int ckpt_find(const char *dir, uint64_t max_round, char *path, size_t pathlen, uint64_t *round,
	      char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	bool found = false;
	uint64_t best = 0;

	if (!d) {
		int rc = -errno;

		if (rc != -ENOENT)
			snprintf(err, errlen, "%s: cannot list: %s", dir, strerror(-rc));
		else
			snprintf(err, errlen, "%s: no checkpoint directory", dir);
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t r;

		if (ckpt_name_round(e->d_name, &r) && r <= max_round && (!found || r > best)) {
			best = r;
			found = true;
		}
	}
	closedir(d);
	if (!found) {
		snprintf(err, errlen, "%s: no checkpoint at or before round %llu", dir,
			 (unsigned long long)max_round);
		return -ENOENT;
	}
	*round = best;
	snprintf(path, pathlen, "%s/round-%020" PRIu64 CKPT_SUFFIX, dir, best);
	return 0;
}

static int ckpt_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;	/* newest first */
}

int ckpt_prune(const char *dir, uint32_t keep, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t *rounds = NULL;
	size_t n = 0, cap = 0;
	int deleted = 0;
	char p[CKPT_PATH_MAX];

	if (!d) {
		int rc = -errno;

		snprintf(err, errlen, "%s: cannot list: %s", dir, strerror(-rc));
		return rc;
	}
	while ((e = readdir(d)) != NULL) {
		uint64_t r;

		if (strncmp(e->d_name, ".round-", 7) == 0 && strstr(e->d_name, CKPT_SUFFIX ".tmp.")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			deleted += unlink(p) == 0;
			continue;
		}
		if (!ckpt_name_round(e->d_name, &r))
			continue;
		if (n == cap) {
			uint64_t *grown = realloc(rounds, (cap = cap ? 2 * cap : 16) * sizeof(*rounds));

			if (!grown) {
				free(rounds);
				closedir(d);
				snprintf(err, errlen, "%s: out of memory", dir);
				return -ENOMEM;
			}
			rounds = grown;
		}
		rounds[n++] = r;
	}
	closedir(d);
	if (n > 1)	/* rounds is NULL when there is none */
		qsort(rounds, n, sizeof(*rounds), ckpt_cmp_u64);
	for (size_t i = keep; i < n; i++) {
		snprintf(p, sizeof(p), "%s/round-%020" PRIu64 CKPT_SUFFIX, dir, rounds[i]);
		deleted += unlink(p) == 0;
	}
	free(rounds);
	return deleted;
}
