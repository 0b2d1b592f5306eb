/* SPDX-License-Identifier: MIT */
/* Store throughput on this disk: durable job inserts (one fsync'd commit
 * each), batched progress updates committed by periodic flushes, what
 * committing several rows per fsync (group commit) would give, and GPU-time
 * accounting: a year of leases written, hared's 30-s write of the running
 * leases' ends, and harectl usage's sums over windows of that year.
 * Usage: store_bench [parent-dir] (default $TMPDIR or /tmp). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

#define BENCH_JOBS 1000
#define BENCH_INSERT_S 3.0
#define BENCH_UPDATES 200000
#define BENCH_LEASES 200000		/* a year of leases, over the BENCH_JOBS jobs */
#define BENCH_RUNNING 1000		/* leases running at once: the 30-s write */
#define BENCH_QUERIES 20

struct bench_lat {
	double *ms;
	size_t n, cap;
};

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bench_lat_add(struct bench_lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		double *p = realloc(l->ms, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		l->ms = p;
		l->cap = cap;
	}
	l->ms[l->n++] = ms;
	return 0;
}

static int bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Quantile q of the recorded latencies (sorts them). */
static double bench_lat_q(struct bench_lat *l, double q)
{
	if (!l->n)
		return NAN;
	qsort(l->ms, l->n, sizeof(double), bench_cmp);
	return l->ms[(size_t)(q * (double)(l->n - 1))];
}

static void bench_row(const char *what, size_t count, double secs, struct bench_lat *lat)
{
	double p50 = bench_lat_q(lat, 0.5), p99 = bench_lat_q(lat, 0.99);

	printf("%-44s %9zu %8.3f %12.0f %9.3f %9.3f\n", what, count, secs, (double)count / secs, p50,
	       p99);
	lat->n = 0;
}

/* The disk's own rate of small write + fdatasync, the bound for any
 * durable commit. */
static int bench_fsync(const char *dir, struct bench_lat *lat)
{
	char path[512], block[4096];
	double t0, t;
	int fd, n = 0;

	snprintf(path, sizeof(path), "%s/fsync.tmp", dir);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		return -errno;
	memset(block, 'x', sizeof(block));
	t0 = bench_now();
	for (t = t0; t - t0 < 1.0; n++) {
		double a = t;

		if (pwrite(fd, block, sizeof(block), (off_t)(n % 64) * 4096) < 0 || fdatasync(fd) < 0)
			break;
		t = bench_now();
		bench_lat_add(lat, (t - a) * 1e3);
	}
	close(fd);
	unlink(path);
	bench_row("raw 4 KiB pwrite + fdatasync", (size_t)n, t - t0, lat);
	return 0;
}

static struct store_job bench_job(int i)
{
	struct store_job j;

	memset(&j, 0, sizeof(j));
	snprintf(j.user, sizeof(j.user), "user%d", i % 17);
	snprintf(j.name, sizeof(j.name), "job-%d", i);
	snprintf(j.model, sizeof(j.model), "resnet50");
	j.tasks = 8;
	j.min_gpus = 1;
	j.max_gpus = 8;
	j.rounds_total = 10000;
	j.weight = 1.0;
	j.ntypes = 2;
	snprintf(j.types[0], sizeof(j.types[0]), "V100");
	snprintf(j.types[1], sizeof(j.types[1]), "T4");
	snprintf(j.command, sizeof(j.command), "python train.py --epochs 90");
	j.state = STORE_QUEUED;
	j.submit_time = 1700000000.0 + i;
	j.loss = NAN;
	return j;
}

/* Durable inserts, each committed before the next, for BENCH_INSERT_S. */
static int bench_inserts(struct store *s, struct bench_lat *lat, uint64_t *last_id)
{
	double t0 = bench_now(), t = t0;
	int n = 0, err = 0;

	while (t - t0 < BENCH_INSERT_S || n < BENCH_JOBS) {
		struct store_job j = bench_job(n);
		double a = t;

		err = store_job_insert(s, &j);
		if (err)
			break;
		*last_id = j.id;
		n++;
		t = bench_now();
		bench_lat_add(lat, (t - a) * 1e3);
	}
	bench_row("durable job inserts (commit each)", (size_t)n, t - t0, lat);
	return err;
}

/* BENCH_UPDATES progress updates spread over BENCH_JOBS jobs, with a
 * store_flush every `batch` updates; latencies are the flushes'. */
static int bench_progress(struct store *s, uint64_t last_id, int batch, struct bench_lat *lat)
{
	char what[64];
	double t0 = bench_now();
	int err = 0;

	for (int i = 0; i < BENCH_UPDATES && !err; i++) {
		uint64_t id = last_id - (uint64_t)(i % BENCH_JOBS);

		err = store_job_progress(s, id, (uint64_t)(i / BENCH_JOBS + 1), 1.0 / (i + 1));
		if (!err && (i + 1) % batch == 0) {
			double a = bench_now();

			err = store_flush(s);
			bench_lat_add(lat, (bench_now() - a) * 1e3);
		}
	}
	if (!err)
		err = store_flush(s);
	snprintf(what, sizeof(what), "progress updates, flush every %d", batch);
	bench_row(what, BENCH_UPDATES, bench_now() - t0, lat);
	return err;
}

/* Rows committed per second when `group` rows share one fsync'd commit
 * (events stand in for submissions: what a grouped insert would give). */
static int bench_group(struct store *s, uint64_t last_id, int group, struct bench_lat *lat)
{
	char what[64];
	double t0 = bench_now(), t = t0;
	size_t rows = 0;
	int err = 0;

	while (t - t0 < 1.0 && !err) {
		double a = t;

		for (int g = 0; g < group && !err; g++, rows++)
			err = store_event(s, a, last_id, "submit", "group commit bench");
		if (!err)
			err = store_flush(s);
		t = bench_now();
		bench_lat_add(lat, (t - a) * 1e3);
	}
	snprintf(what, sizeof(what), "rows, %d per durable commit", group);
	bench_row(what, rows, t - t0, lat);
	return err;
}

static int bench_usage_row(void *u, const char *user, uint32_t jobs, double gpu_s)
{
	(void)user;
	(void)jobs;
	*(double *)u += gpu_s;
	return 0;
}

static int bench_usage_type(void *u, const char *user, const char *type, double gpu_s)
{
	(void)u;
	(void)user;
	(void)type;
	(void)gpu_s;
	return 0;
}

/* BENCH_LEASES leases of 1-8 GPUs of one or two types over a year, then the
 * ends of BENCH_RUNNING running ones written and committed (hared does it
 * every 30 s), then usage sums over the last day, week, month and year,
 * and one user's week. */
static int bench_usage(struct store *s, uint64_t last_id, struct bench_lat *lat)
{
	static const struct { const char *what; double days; const char *user; } windows[] = {
		{ "usage sum, last day of a year's leases", 1, NULL },
		{ "usage sum, last 7 days (the default)", 7, NULL },
		{ "usage sum, last 7 days, one user", 7, "user3" },
		{ "usage sum, last 30 days", 30, NULL },
		{ "usage sum, the whole year", 366, NULL },
	};
	const double year = 365 * 86400.0, end = 1700000000.0 + year;
	double t0 = bench_now(), total = 0;
	int err = 0;

	srand(7);
	for (int i = 0; i < BENCH_LEASES && !err; i++) {
		uint64_t job = last_id - (uint64_t)(i % BENCH_JOBS);
		double start = end - year + year * i / BENCH_LEASES, len = 600 + rand() % 36000;

		err = store_usage_start(s, job, (uint64_t)i + 1, "V100", 1 + (uint32_t)(rand() % 8), start);
		if (!err && i % 3 == 0)
			err = store_usage_start(s, job, (uint64_t)i + 1, "T4", 1 + (uint32_t)(rand() % 4), start);
		if (!err)
			err = store_usage_until(s, job, (uint64_t)i + 1, start + len);
		if (!err && i % 10000 == 9999)
			err = store_flush(s);
	}
	if (!err)
		err = store_flush(s);
	bench_row("lease rows written (start, end; batched)", BENCH_LEASES, bench_now() - t0, lat);
	t0 = bench_now();
	for (int r = 0; r < BENCH_QUERIES && !err; r++) {
		double a = bench_now();

		/* the last BENCH_RUNNING leases written: lease k + 1 of job
		 * last_id - k % BENCH_JOBS */
		for (int k = BENCH_LEASES - BENCH_RUNNING; k < BENCH_LEASES && !err; k++)
			err = store_usage_until(s, last_id - (uint64_t)(k % BENCH_JOBS), (uint64_t)k + 1,
						end + r);
		if (!err)
			err = store_flush(s);
		bench_lat_add(lat, (bench_now() - a) * 1e3);
	}
	bench_row("ends of 1000 running leases, one commit", BENCH_QUERIES, bench_now() - t0, lat);
	/* they moved: those leases hold GPUs after the year's end */
	if (!err)
		err = store_usage_sum(s, end, end + BENCH_QUERIES, NULL, bench_usage_row,
				      bench_usage_type, &total);
	if (!err && !(total > 0)) {
		fprintf(stderr, "store_bench: the running leases' ends were not written\n");
		err = -EIO;
	}
	for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]) && !err; w++) {
		t0 = bench_now();
		for (int r = 0; r < BENCH_QUERIES && !err; r++) {
			double a = bench_now();

			err = store_usage_sum(s, end - windows[w].days * 86400, end + 1, windows[w].user,
					      bench_usage_row, bench_usage_type, &total);
			bench_lat_add(lat, (bench_now() - a) * 1e3);
		}
		bench_row(windows[w].what, BENCH_QUERIES, bench_now() - t0, lat);
	}
	return err;
}

static int bench_run(const char *dir)
{
	static const int batches[] = { 200, 2000, 20000 };
	static const int groups[] = { 1, 4, 16, 64 };
	struct bench_lat lat = { 0 };
	char path[512], err[512];
	struct store *s;
	uint64_t last_id = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/hare.db", dir);
	rc = store_open(path, &s, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "store_bench: %s\n", err);
		return rc;
	}
	printf("%-44s %9s %8s %12s %9s %9s\n", "what", "count", "seconds", "per_second", "p50_ms",
	       "p99_ms");
	rc = bench_fsync(dir, &lat);
	if (!rc)
		rc = bench_inserts(s, &lat, &last_id);
	for (size_t i = 0; !rc && i < sizeof(batches) / sizeof(batches[0]); i++)
		rc = bench_progress(s, last_id, batches[i], &lat);
	for (size_t i = 0; !rc && i < sizeof(groups) / sizeof(groups[0]); i++)
		rc = bench_group(s, last_id, groups[i], &lat);
	if (!rc)
		rc = bench_usage(s, last_id, &lat);
	store_close(s);
	free(lat.ms);
	if (rc)
		fprintf(stderr, "store_bench: error %d (%s)\n", rc, strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	const char *parent = argc > 1 ? argv[1] : getenv("TMPDIR");
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char dir[400], file[600];
	int rc;

	snprintf(dir, sizeof(dir), "%s/hare-store-bench.XXXXXX", parent && *parent ? parent : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "store_bench: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	printf("store bench: sqlite %s, database in %s (WAL, synchronous=FULL)\n",
	       sqlite3_libversion(), dir);
	rc = bench_run(dir);
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(file, sizeof(file), "%s/hare.db%s", dir, suffix[i]);
		unlink(file);
	}
	rmdir(dir);
	return rc ? 1 : 0;
}
