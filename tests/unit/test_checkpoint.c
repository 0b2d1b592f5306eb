/* SPDX-License-Identifier: MIT */
/* Unit tests for the worker's checkpoint files: round trip, the newest file
 * at or before a round, pruning, and every way a file can be refused
 * (truncated, bad checksums, wrong model, sizes or seed, another version,
 * sizes that wrap, a renamed file, a directory). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "workloads/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define N 1000

struct fixture {
	char dir[64];
	struct ckpt_meta m;
	float p[N], v[N];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/hare-ckpt-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	f->m = (struct ckpt_meta){ .model = "resnet18", .family = 1, .seed = 17, .round = 40,
				   .spec_hash = 0x1234abcd5678ef90ull, .nfloats = N };
	for (int i = 0; i < N; i++) {
		f->p[i] = (float)i * 0.25f - 3;
		f->v[i] = -(float)i / 7;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	DIR *d = opendir(f->dir);
	struct dirent *e;
	char p[512];

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || strcmp(e->d_name, "..") == 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", f->dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) != NULL)
		n += e->d_name[0] != '.' || (e->d_name[1] != '\0' && strcmp(e->d_name, "..") != 0);
	if (d)
		closedir(d);
	return n;
}

static void test_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(ckpt_crc32c(0, "123456789", 9), 0xe3069283u);
	/* incremental = one shot */
	assert_int_equal(ckpt_crc32c(ckpt_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(ckpt_crc32c(0, "", 0), 0);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256];
	struct ckpt_meta got;
	float p[N], v[N];
	struct stat st;
	mode_t mask = umask(022);	/* the usual one: group and others may read */

	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);
	assert_non_null(strstr(path, "/round-00000000000000000040.hckpt"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, CKPT_HEADER_SIZE + 2 * N * 4);
	assert_int_equal(st.st_mode & 07777, 0600);	/* the job's weights: its owner's only */
	assert_int_equal(count_files(f->dir), 1);	/* no temp file left */
	assert_int_equal(ckpt_read(path, &f->m, p, v, &got, err, sizeof(err)), 0);
	assert_memory_equal(p, f->p, sizeof(p));
	assert_memory_equal(v, f->v, sizeof(v));
	assert_memory_equal(&got, &f->m, sizeof(got));
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), 0);
	assert_int_equal(got.round, 40);
	/* a missing directory (and its parents) is created */
	snprintf(path, sizeof(path), "%s/a/b", f->dir);
	assert_int_equal(ckpt_write(path, &f->m, f->p, f->v, NULL, 0, err, sizeof(err)), 0);
	umask(mask);
	snprintf(path, sizeof(path), "%s/a/b/round-00000000000000000040.hckpt", f->dir);
	assert_int_equal(ckpt_read(path, &f->m, p, v, &got, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	unlink(path);
	/* the folders it made are the owner's only too */
	snprintf(path, sizeof(path), "%s/a/b", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/a", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	rmdir(path);
}

static void test_find_and_prune(void **state)
{
	struct fixture *f = *state;
	static const uint64_t rounds[] = { 10, 40, 25, 100 };
	char path[256], err[256];
	uint64_t r;
	FILE *junk;

	for (size_t i = 0; i < 4; i++) {
		f->m.round = rounds[i];
		assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, NULL, 0, err, sizeof(err)), 0);
	}
	assert_int_equal(ckpt_find(f->dir, UINT64_MAX, path, sizeof(path), &r, err, sizeof(err)), 0);
	assert_int_equal(r, 100);
	assert_int_equal(ckpt_find(f->dir, 99, path, sizeof(path), &r, err, sizeof(err)), 0);
	assert_int_equal(r, 40);
	assert_non_null(strstr(path, "round-00000000000000000040.hckpt"));
	assert_int_equal(ckpt_find(f->dir, 25, path, sizeof(path), &r, err, sizeof(err)), 0);
	assert_int_equal(r, 25);
	assert_int_equal(ckpt_find(f->dir, 9, path, sizeof(path), &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no checkpoint at or before round 9"));
	/* a stray temp file of a crashed writer, and a foreign file that stays */
	snprintf(path, sizeof(path), "%s/.round-00000000000000000200.hckpt.tmp.99", f->dir);
	junk = fopen(path, "w");
	fclose(junk);
	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	junk = fopen(path, "w");
	fclose(junk);
	assert_int_equal(ckpt_prune(f->dir, 2, err, sizeof(err)), 3);
	assert_int_equal(count_files(f->dir), 3);
	assert_int_equal(ckpt_find(f->dir, 99, path, sizeof(path), &r, err, sizeof(err)), 0);
	assert_int_equal(r, 40);
	assert_int_equal(ckpt_find(f->dir, 39, path, sizeof(path), &r, err, sizeof(err)), -ENOENT);
	snprintf(path, sizeof(path), "%s/none", f->dir);
	assert_int_equal(ckpt_find(path, 1, path, sizeof(path), &r, err, sizeof(err)), -ENOENT);
}

/* Write a checkpoint, damage it with fn, and read it back. */
static int damaged(struct fixture *f, void (*fn)(const char *path), const struct ckpt_meta *want,
		   char *err, size_t errlen)
{
	char path[256];
	struct ckpt_meta got;
	float p[N], v[N];

	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, errlen), 0);
	if (fn)
		fn(path);
	return ckpt_read(path, want ? want : &f->m, p, v, &got, err, errlen);
}

static void poke(const char *path, off_t at, uint8_t x)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= x;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void cut_payload(const char *path) { assert_int_equal(truncate(path, CKPT_HEADER_SIZE + 100), 0); }
static void cut_header(const char *path) { assert_int_equal(truncate(path, 50), 0); }
static void flip_payload(const char *path) { poke(path, CKPT_HEADER_SIZE + 4 * N + 17, 0x10); }
static void flip_header(const char *path) { poke(path, 17, 0x01); }
static void flip_magic(const char *path) { poke(path, 0, 0x20); }

/* Rewrite the version field and fix the header checksum, as a future
 * format would. */
static void bump_version(const char *path)
{
	uint8_t h[CKPT_HEADER_SIZE];
	uint32_t crc;
	int fd = open(path, O_RDWR);

	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	h[8] = 2;
	crc = ckpt_crc32c(0, h, 124);
	for (int i = 0; i < 4; i++)
		h[124 + i] = (uint8_t)(crc >> (8 * i));
	assert_int_equal(pwrite(fd, h, sizeof(h), 0), sizeof(h));
	close(fd);
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	struct ckpt_meta want;
	char err[256];

	assert_int_equal(damaged(f, cut_payload, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated: 228 bytes, the header says 8128"));
	assert_int_equal(damaged(f, cut_header, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated: 50 bytes"));
	assert_int_equal(damaged(f, flip_payload, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "payload checksum mismatch"));
	assert_int_equal(damaged(f, flip_header, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "header checksum mismatch"));
	assert_int_equal(damaged(f, flip_magic, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a Hare checkpoint"));
	assert_int_equal(damaged(f, bump_version, NULL, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "checkpoint format version 2, this worker reads version 1"));

	want = f->m;
	snprintf(want.model, sizeof(want.model), "resnet50");
	assert_int_equal(damaged(f, NULL, &want, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "made for model 'resnet18', this worker runs 'resnet50'"));
	want = f->m;
	want.spec_hash ^= 1;
	assert_int_equal(damaged(f, NULL, &want, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the proxy sizes differ"));
	want = f->m;
	want.seed = 18;
	assert_int_equal(damaged(f, NULL, &want, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "made with seed 17, this job's seed is 18"));
	assert_int_equal(ckpt_read_meta("/nonexistent/x.hckpt", &want, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
}

/* Rewrite n header bytes at off of path, fix the header checksum and cut
 * the file to size bytes (0: keep). */
static void patch_header(const char *path, size_t off, const void *bytes, size_t n, off_t size)
{
	uint8_t h[CKPT_HEADER_SIZE];
	uint32_t crc;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(h), 0), sizeof(h));
	memcpy(h + off, bytes, n);
	crc = ckpt_crc32c(0, h, 124);
	for (int i = 0; i < 4; i++)
		h[124 + i] = (uint8_t)(crc >> (8 * i));
	assert_int_equal(pwrite(fd, h, sizeof(h), 0), sizeof(h));
	if (size)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

/* Header fields that the checksums cannot catch (found by fuzz_checkpoint). */
static void test_refused_header(void **state)
{
	struct fixture *f = *state;
	/* 2^61 + 1 floats: the payload size 8 * (2^61 + 1) wraps to 8 */
	const uint8_t huge[16] = { 1, 0, 0, 0, 0, 0, 0, 0x20, 8, 0, 0, 0, 0, 0, 0, 0 };
	const uint8_t garbage[] = "xyz";
	char path[256], other[256], err[256];
	struct ckpt_meta got;
	uint64_t r;

	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);
	patch_header(path, 80, huge, sizeof(huge), CKPT_HEADER_SIZE + 8);
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "inconsistent header (2305843009213693953 floats per tensor"));

	/* bytes after the model's NUL are not part of it */
	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);
	patch_header(path, 16 + 9, garbage, 3, 0);
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), 0);
	assert_memory_equal(got.model, f->m.model, sizeof(got.model));

	/* reserved bytes must be zero, checksum or not */
	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);
	patch_header(path, 117, garbage, 1, 0);
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "reserved header byte 117 is 120, not 0 (written by a newer"));
	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);

	/* a file renamed to another round is refused, and ckpt_find's caller
	 * moves on to an older one */
	snprintf(other, sizeof(other), "%s/round-00000000000000000050.hckpt", f->dir);
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(ckpt_find(f->dir, UINT64_MAX, path, sizeof(path), &r, err, sizeof(err)), 0);
	assert_int_equal(r, 50);
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "the file name says round 50, its header round 40"));
	unlink(other);
	/* also at the largest rounds (a name up to UINT64_MAX parses) */
	f->m.round = UINT64_MAX;
	assert_int_equal(ckpt_write(f->dir, &f->m, f->p, f->v, path, sizeof(path), err, sizeof(err)), 0);
	assert_int_equal(ckpt_find(f->dir, UINT64_MAX, other, sizeof(other), &r, err, sizeof(err)), 0);
	assert_true(r == UINT64_MAX);
	snprintf(other, sizeof(other), "%s/round-18446744073709551614.hckpt", f->dir);
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(ckpt_read_meta(other, &got, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "the file name says round 18446744073709551614, its header round "
			       "18446744073709551615"));
	unlink(other);
	f->m.round = 40;

	/* a directory named like a checkpoint */
	snprintf(path, sizeof(path), "%s/round-00000000000000000007.hckpt", f->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(ckpt_read_meta(path, &got, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(path);
	/* nothing to prune */
	assert_int_equal(ckpt_prune(f->dir, 1, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_header, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
