/* SPDX-License-Identifier: MIT */
/* Cost of jobs that run after others, in hared's driver over a store on
 * this disk (what blocks hared's loop): a cancel that takes a chain of N
 * jobs along (each after the one before), side by side with N plain
 * cancels; one that takes N jobs after the same one; the submit's check of
 * 16 jobs among N active ones; the end of a job none runs after.
 * Commits are timed apart (one fsync each). Prints a table.
 * Usage: after_bench [parent-dir] (default $TMPDIR or /tmp). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "driver.h"
#include "err.h"
#include "log.h"
#include "profile.h"
#include "store.h"

struct bench {
	uv_loop_t loop;
	struct profile *prof;
	struct store *st;
	struct driver *d;
	char dir[256];
};

static double bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int bench_send(void *user, uint32_t agent_id, const Hare__FromDaemon *m)
{
	(void)user;
	(void)agent_id;
	(void)m;
	return 0;
}

static int bench_open(struct bench *b, const char *parent)
{
	struct driver_opts o = { .policy = "hare", .time_scale = 1, .replan_debounce_ms = 60000,
				 .reconnect_grace_s = 0, .stop_grace_s = 1, .max_retries = 3 };
	char path[300], err[256];

	snprintf(b->dir, sizeof(b->dir), "%s/hare-after-bench.XXXXXX", parent);
	if (!mkdtemp(b->dir)) {
		fprintf(stderr, "after_bench: %s: %s\n", b->dir, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/hare.db", b->dir);
	if (uv_loop_init(&b->loop) != 0 ||
	    profile_load(HARE_SOURCE_DIR "/" PROFILE_DEFAULT_DIR, &b->prof, err, sizeof(err)) < 0 ||
	    store_open(path, &b->st, err, sizeof(err)) < 0 ||
	    driver_new(&b->loop, &o, b->prof, b->st, bench_send, NULL, &b->d, err, sizeof(err)) < 0) {
		fprintf(stderr, "after_bench: %s\n", err);
		return -EIO;
	}
	driver_start(b->d);
	return 0;
}

static void bench_close(struct bench *b)
{
	char path[300];

	driver_close(b->d);
	uv_run(&b->loop, UV_RUN_DEFAULT);
	driver_free(b->d);
	store_close(b->st);
	profile_free(b->prof);
	uv_loop_close(&b->loop);
	snprintf(path, sizeof(path), "%s/hare.db", b->dir);
	remove(path);
	snprintf(path, sizeof(path), "%s/hare.db-wal", b->dir);
	remove(path);
	snprintf(path, sizeof(path), "%s/hare.db-shm", b->dir);
	remove(path);
	remove(b->dir);
}

/* Commit a QUEUED job after the n jobs at after (as hared does: the store
 * gives the id), then add it; its id, 0 on failure. */
static uint64_t bench_submit(struct bench *b, const uint64_t *after, uint32_t n)
{
	struct store_job j;
	char err[256];

	memset(&j, 0, sizeof(j));
	snprintf(j.user, sizeof(j.user), "bench");
	snprintf(j.name, sizeof(j.name), "bench");
	snprintf(j.model, sizeof(j.model), "resnet50");
	j.tasks = j.min_gpus = j.max_gpus = 1;
	j.rounds_total = 1000;
	j.weight = 1;
	j.state = STORE_QUEUED;
	j.submit_time = driver_now();
	j.loss = NAN;
	j.nafter = n;
	memcpy(j.after, after, n * sizeof(*after));
	if (store_job_add(b->st, &j) < 0 || driver_job_add(b->d, &j, err, sizeof(err)) < 0)
		return 0;
	return j.id;
}

static void bench_row(const char *what, uint32_t n, double ms, double commit_ms)
{
	printf("%-44s %7u %11.3f %11.4f %10.1f\n", what, n, ms, ms / n, commit_ms);
}

/* A chain of n jobs, each after the one before, cancelled by a cancel of
 * its first; and n plain jobs cancelled one by one. */
static int bench_chain(struct bench *b, uint32_t n)
{
	uint64_t first = 0, prev = 0, *plain = calloc(n, sizeof(*plain));
	char msg[200];
	double t0, t1, t2;

	if (!plain)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		prev = bench_submit(b, prev ? &prev : NULL, prev ? 1 : 0);
		first = first ? first : prev;
		plain[i] = bench_submit(b, NULL, 0);
		if (!prev || !plain[i]) {
			free(plain);
			return -EIO;
		}
	}
	store_flush(b->st);
	t0 = bench_now_ms();
	driver_job_cancel(b->d, first, "root", true, msg, sizeof(msg));
	t1 = bench_now_ms();
	store_flush(b->st);
	t2 = bench_now_ms();
	bench_row("cancel: a chain goes with its first", n, t1 - t0, t2 - t1);
	t0 = bench_now_ms();
	for (uint32_t i = 0; i < n; i++)
		driver_job_cancel(b->d, plain[i], "root", true, msg, sizeof(msg));
	t1 = bench_now_ms();
	store_flush(b->st);
	t2 = bench_now_ms();
	bench_row("cancel: as many plain jobs, one by one", n, t1 - t0, t2 - t1);
	free(plain);
	return driver_job_count(b->d) == 0 ? 0 : -EIO;
}

/* n jobs after one; that one is cancelled. */
static int bench_fan(struct bench *b, uint32_t n)
{
	uint64_t root = bench_submit(b, NULL, 0);
	char msg[200];
	double t0, t1, t2;

	for (uint32_t i = 0; i < n; i++)
		if (!bench_submit(b, &root, 1))
			return -EIO;
	store_flush(b->st);
	t0 = bench_now_ms();
	driver_job_cancel(b->d, root, "root", true, msg, sizeof(msg));
	t1 = bench_now_ms();
	store_flush(b->st);
	t2 = bench_now_ms();
	bench_row("cancel: n jobs after the same one go with it", n, t1 - t0, t2 - t1);
	return driver_job_count(b->d) == 0 ? 0 : -EIO;
}

/* Among n active jobs, n - 17 of them after one job: the submit's check
 * of 16 others (1000 times), and the end of one of those, which no job
 * runs after (what every end pays). */
static int bench_check(struct bench *b, uint32_t n)
{
	uint64_t after[STORE_MAX_AFTER], root = bench_submit(b, NULL, 0);
	char msg[200];
	double t0, t1, t2;

	for (uint32_t i = 0; i < STORE_MAX_AFTER; i++)
		after[i] = bench_submit(b, NULL, 0);
	for (uint32_t i = STORE_MAX_AFTER + 1; i < n; i++)
		if (!bench_submit(b, &root, 1))
			return -EIO;
	store_flush(b->st);
	t0 = bench_now_ms();
	for (uint32_t k = 0; k < 1000; k++)
		if (driver_after_check(b->d, after, NULL, STORE_MAX_AFTER, msg, sizeof(msg)) != 0)
			return -EIO;
	t1 = bench_now_ms();
	bench_row("submit's check of 16 active jobs (x1000)", n, t1 - t0, 0);
	t0 = bench_now_ms();
	driver_job_cancel(b->d, after[0], "root", true, msg, sizeof(msg));
	t1 = bench_now_ms();
	store_flush(b->st);
	t2 = bench_now_ms();
	bench_row("an end of a job none runs after", n, t1 - t0, t2 - t1);
	for (uint32_t i = 1; i < STORE_MAX_AFTER; i++)
		driver_job_cancel(b->d, after[i], "root", true, msg, sizeof(msg));
	driver_job_cancel(b->d, root, "root", true, msg, sizeof(msg));
	store_flush(b->st);
	return driver_job_count(b->d) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1000, 10000 };
	const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct bench b;
	int rc = 0;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: after_bench [parent-dir]\n");
		return 2;
	}
	log_level_set("error");
	memset(&b, 0, sizeof(b));
	if (bench_open(&b, parent) < 0)
		return 1;
	printf("%-44s %7s %11s %11s %10s\n", "operation (hared's loop)", "n", "total_ms", "per_job_ms",
	       "commit_ms");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && rc == 0; i++) {
		rc = bench_chain(&b, sizes[i]);
		if (rc == 0)
			rc = bench_fan(&b, sizes[i]);
		if (rc == 0)
			rc = bench_check(&b, sizes[i]);
	}
	bench_close(&b);
	if (rc < 0)
		fprintf(stderr, "after_bench: %s\n", err_str(rc));
	return rc < 0 ? 1 : 0;
}
