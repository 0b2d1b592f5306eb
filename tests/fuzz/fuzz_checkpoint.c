/* SPDX-License-Identifier: MIT */
/* Fuzz target for the worker's checkpoint files: the input becomes a file in
 * a fresh directory that ckpt_read_meta, ckpt_read, ckpt_find and ckpt_prune
 * then work on. Its first two bytes pick modes (fix the checksums, add a
 * second file, ...) so that the checks after the CRCs are reached too. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "workloads/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Mode bits of the first input byte. */
#define FZ_FIX_PAYLOAD_CRC 0x01	/* store the payload's CRC at offset 96 */
#define FZ_FIX_HEADER_CRC 0x02	/* then the header's CRC at offset 124 */
#define FZ_FORCE_FIXED 0x04	/* magic, version, header size, tensors made valid */
#define FZ_SECOND_FILE 0x08	/* the same bytes again under another round's name */
#define FZ_NAME_OTHER 0x10	/* file named by a round other than its header's */
#define FZ_WANT_SHIFT 5		/* bits 5-6: what ckpt_read is asked for */
#define FZ_JUNK 0x80		/* a directory and a stray temp file beside it */
/* The second byte: bits 0-1 prune's keep, 2-3 ckpt_find's bound, 4-7 how
 * far the second file's round is from the first's (1..16). */

#define FZ_HDR CKPT_HEADER_SIZE

/* A property the checkpoint code promised does not hold. */
static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

static uint64_t fz_get64(const uint8_t *b)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void fz_put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* Apply the header modes to the file image. */
static void fz_fix(uint8_t *img, size_t len, unsigned mode)
{
	if (len < FZ_HDR)
		return;
	if (mode & FZ_FORCE_FIXED) {
		memcpy(img, CKPT_MAGIC, 8);
		fz_put32(img + 8, CKPT_VERSION);
		fz_put32(img + 12, CKPT_HEADER_SIZE);
		fz_put32(img + 52, 2);
	}
	if (mode & FZ_FIX_PAYLOAD_CRC)
		fz_put32(img + 96, ckpt_crc32c(0, img + FZ_HDR, len - FZ_HDR));
	if (mode & FZ_FIX_HEADER_CRC)
		fz_put32(img + 124, ckpt_crc32c(0, img, 124));
}

static int fz_write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t w;

	if (fd < 0)
		return -1;
	w = n ? write(fd, p, n) : 0;
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/* dir is short (mkdtemp's), so paths fit; a cut one is just not written. */
static void fz_name(char *buf, size_t len, const char *dir, uint64_t round)
{
	if ((size_t)snprintf(buf, len, "%s/round-%020" PRIu64 ".hckpt", dir, round) >= len)
		buf[0] = '\0';
}

/* Remove dir and everything in it (one level of subdirectories). */
static void fz_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[CKPT_PATH_MAX];

	while (d && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (unlink(p) < 0)
			fz_rmtree(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Files of dir whose names ckpt_find would consider, by a simple rule. */
static size_t fz_count_ckpts(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "round-", 6) == 0 && strlen(e->d_name) == 32;
	if (d)
		closedir(d);
	return n;
}

/* Field by field: the struct has padding. The model is compared whole, so
 * bytes after its NUL count. */
static int fz_meta_eq(const struct ckpt_meta *a, const struct ckpt_meta *b)
{
	return memcmp(a->model, b->model, sizeof(a->model)) == 0 && a->family == b->family &&
	       a->seed == b->seed && a->round == b->round && a->spec_hash == b->spec_hash &&
	       a->nfloats == b->nfloats;
}

static void fz_check_err(int rc, const char *err)
{
	fuzz_check(rc < 0 && rc > -4096 && err[0] != '\0');
}

/* A float buffer of exactly n floats (NULL-safe for 0), so ASan sees a write
 * past it. */
static float *fz_floats(uint64_t n)
{
	return malloc(n ? (size_t)n * sizeof(float) : 1);
}

/* An accepted file written again from what was read must give the same
 * meta and payload, and the same header up to reserved bytes. */
static void fz_round_trip(const char *dir, const uint8_t *img, const struct ckpt_meta *m,
			  const float *p, const float *v)
{
	char sub[CKPT_PATH_MAX], path[CKPT_PATH_MAX], err[512];
	struct ckpt_meta again;
	uint8_t h[FZ_HDR];
	size_t bytes = (size_t)m->nfloats * sizeof(float);
	int fd;

	if ((size_t)snprintf(sub, sizeof(sub), "%s/rt", dir) >= sizeof(sub))
		return;
	err[0] = '\0';
	fuzz_check(ckpt_write(sub, m, p, v, path, sizeof(path), err, sizeof(err)) == 0);
	fuzz_check(ckpt_read_meta(path, &again, err, sizeof(err)) == 0);
	fuzz_check(fz_meta_eq(&again, m));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	fuzz_check(fd >= 0 && pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h));
	close(fd);
	/* magic .. payload CRC are the same; the model up to its NUL */
	fuzz_check(memcmp(h, img, 16) == 0 && memcmp(h + 48, img + 48, 100 - 48) == 0);
	fuzz_check(strcmp((const char *)h + 16, (const char *)img + 16) == 0);
	fuzz_check(ckpt_crc32c(ckpt_crc32c(0, p, bytes), v, bytes) == ckpt_crc32c(0, img + FZ_HDR, 2 * bytes));
	unlink(path);
	rmdir(sub);
}

/* ckpt_read with what the file says, or something close to it: it never
 * writes past want->nfloats floats and accepts only an exact match. */
static void fz_read(const char *dir, const char *path, const uint8_t *img, size_t len,
		    const struct ckpt_meta *m, unsigned which)
{
	struct ckpt_meta want = *m, got;
	char err[512] = "";
	float *p, *v;
	int rc;

	if (which == 1 && want.nfloats > 0)
		want.nfloats--;
	else if (which == 2)
		want.nfloats++;
	else if (which == 3)
		want.seed ^= 1;
	p = fz_floats(want.nfloats);
	v = fz_floats(want.nfloats);
	if (!p || !v)
		goto out;
	rc = ckpt_read(path, &want, p, v, &got, err, sizeof(err));
	if (rc < 0) {
		fz_check_err(rc, err);
		goto out;
	}
	fuzz_check(fz_meta_eq(&want, m) && fz_meta_eq(&got, m));
	fuzz_check(len == FZ_HDR + 2 * want.nfloats * sizeof(float));
	fuzz_check(memcmp(p, img + FZ_HDR, want.nfloats * sizeof(float)) == 0);
	fuzz_check(memcmp(v, img + FZ_HDR + want.nfloats * sizeof(float), want.nfloats * sizeof(float)) == 0);
	fz_round_trip(dir, img, &got, p, v);
out:
	free(p);
	free(v);
}

/* ckpt_read_meta on the file: an accepted header is the file's, and its
 * sizes agree with the file's length without any overflow. */
static void fz_meta(const char *dir, const char *path, const uint8_t *img, size_t len,
		    uint64_t name_round, unsigned mode)
{
	struct ckpt_meta m;
	char err[512] = "";
	int rc = ckpt_read_meta(path, &m, err, sizeof(err));

	if (rc < 0) {
		fz_check_err(rc, err);
		return;
	}
	fuzz_check(len >= FZ_HDR && m.nfloats <= (len - FZ_HDR) / 8);
	fuzz_check(len == FZ_HDR + m.nfloats * 8);
	fuzz_check(m.round == fz_get64(img + 64) && m.round == name_round);
	fuzz_check(memchr(m.model, '\0', sizeof(m.model)) != NULL);
	fz_read(dir, path, img, len, &m, (mode >> FZ_WANT_SHIFT) & 3);
}

/* ckpt_find picks a file at or before the bound; what it finds either reads
 * with the round of its name or is refused with a reason. */
static void fz_find(const char *dir, uint64_t bound)
{
	char path[CKPT_PATH_MAX], err[512] = "";
	struct ckpt_meta m;
	uint64_t round = 0;
	int rc = ckpt_find(dir, bound, path, sizeof(path), &round, err, sizeof(err));

	if (rc < 0) {
		fz_check_err(rc, err);
		return;
	}
	fuzz_check(round <= bound);
	err[0] = '\0';
	rc = ckpt_read_meta(path, &m, err, sizeof(err));
	if (rc < 0)
		fz_check_err(rc, err);
	else
		fuzz_check(m.round == round);
}

static void fz_prune(const char *dir, uint32_t keep)
{
	char err[512] = "";
	size_t before = fz_count_ckpts(dir), after;
	int rc = ckpt_prune(dir, keep, err, sizeof(err));

	if (rc < 0) {
		fz_check_err(rc, err);
		return;
	}
	after = fz_count_ckpts(dir);
	/* a directory named like a checkpoint cannot be unlinked */
	fuzz_check(after <= before && after >= (before < keep ? before : keep));
}

static void fz_run(const char *dir, const uint8_t *img, size_t len, unsigned mode, unsigned opt)
{
	uint64_t hdr_round = len >= FZ_HDR ? fz_get64(img + 64) : 0;
	uint64_t name_round = mode & FZ_NAME_OTHER ? hdr_round ^ 1 : hdr_round;
	uint64_t other = name_round + 1 + (opt >> 4);
	uint64_t bounds[4] = { UINT64_MAX, name_round, name_round - 1, hdr_round };
	char path[CKPT_PATH_MAX], p2[CKPT_PATH_MAX];

	fz_name(path, sizeof(path), dir, name_round);
	if (fz_write_file(path, img, len) < 0)
		return;
	if (mode & FZ_SECOND_FILE) {
		fz_name(p2, sizeof(p2), dir, other);
		fz_write_file(p2, img, len);
	}
	if (mode & FZ_JUNK) {
		fz_name(p2, sizeof(p2), dir, name_round - 1);
		mkdir(p2, 0755);
		if ((size_t)snprintf(p2, sizeof(p2), "%s/.round-%020" PRIu64 ".hckpt.tmp.1", dir,
				     name_round) < sizeof(p2))
			fz_write_file(p2, img, len < 8 ? len : 8);
	}
	fz_meta(dir, path, img, len, name_round, mode);
	fz_find(dir, bounds[(opt >> 2) & 3]);
	fz_prune(dir, opt & 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[CKPT_PATH_MAX];
	uint8_t *img;
	size_t len;

	if (size < 2)
		return 0;
	len = size - 2;
	img = malloc(len ? len : 1);
	if (!img)
		return 0;
	memcpy(img, data + 2, len);
	fz_fix(img, len, data[0]);
	snprintf(dir, sizeof(dir), "%s/hare-fuzz-ckpt-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (mkdtemp(dir)) {
		fz_run(dir, img, len, data[0], data[1]);
		fz_rmtree(dir);
	}
	free(img);
	return 0;
}
