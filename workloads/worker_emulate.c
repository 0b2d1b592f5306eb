/* SPDX-License-Identifier: MIT */
/* The emulated worker: sleeps each round's profiled time (with straggler
 * noise shared by all ranks of a lease) against absolute monotonic deadlines
 * and writes report lines, batched when rounds are fast. */
#include "worker.h"

#include "log.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest single sleep: a SIGTERM that lands between the stop check and the
 * sleep is noticed within this much. */
#define WORKER_SLEEP_CHUNK_S 0.05

static volatile sig_atomic_t worker_stop;

static void worker_on_signal(int sig)
{
	(void)sig;
	worker_stop = 1;
}

static uint64_t worker_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* A standard normal draw that depends on (seed, round, stream) only. */
static double worker_normal(uint64_t seed, uint64_t round, uint64_t stream)
{
	uint64_t a = worker_mix(seed ^ worker_mix(round ^ worker_mix(stream)));
	uint64_t b = worker_mix(a);
	double u1 = (double)((a >> 11) + 1) * 0x1.0p-53;	/* (0, 1] */
	double u2 = (double)(b >> 11) * 0x1.0p-53;

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double worker_noise_factor(uint64_t seed, uint64_t round, double cv)
{
	double f;

	if (!(cv > 0))
		return 1.0;
	f = 1.0 + cv * worker_normal(seed, round, 1);
	return f < 0.5 ? 0.5 : f > 3.0 ? 3.0 : f;
}

double worker_emulated_loss(uint64_t seed, uint64_t round)
{
	double loss = 2.5 * exp(-(double)(round + 1) / 2000.0) + 0.1 +
		      0.005 * worker_normal(seed, round, 2);

	return loss > 0 ? loss : 0;
}

struct worker_emu {
	const struct worker_opts *o;
	struct timespec t0;	/* monotonic start */
	double due_s;		/* current deadline, seconds after t0 */
	double now_s;		/* clock after the last sleep, seconds after t0 */
	double flushed_s;	/* when the last report was written */
	struct report_line pend;	/* rounds not yet written (count 0: none) */
	uint64_t done;		/* rounds completed */
	double orphan_since;	/* since when writes find no reader (EPIPE), s after t0; 0: read */
	struct worker_progress progress;
};

static double worker_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static struct timespec worker_at(const struct timespec *t0, double s)
{
	struct timespec t = *t0;
	double whole = floor(s);

	t.tv_sec += (time_t)whole;
	t.tv_nsec += (long)((s - whole) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Sleep until due_s after t0 (absolute, so rounds never drift). Returns 1
 * when a stop was requested, 0 at the deadline. */
static int worker_sleep_until(struct worker_emu *e)
{
	for (;;) {
		double now = worker_since(&e->t0);
		double until = e->due_s;
		struct timespec at;

		e->now_s = now;
		if (worker_stop)
			return 1;
		if (now >= e->due_s)
			return 0;
		if (until - now > WORKER_SLEEP_CHUNK_S)
			until = now + WORKER_SLEEP_CHUNK_S;
		at = worker_at(&e->t0, until);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
	}
}

/* Write one whole line (<= PIPE_BUF, so atomic on a pipe). 0 or -errno. */
static int worker_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n >= 0) {
			buf += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			poll(&p, 1, 50);
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static int worker_emit(const struct worker_emu *e, const struct report_line *r)
{
	char line[REPORT_LINE_MAX];
	int n = report_line_format(r, line, sizeof(line));

	return n < 0 ? n : worker_write(e->o->report_fd, line, (size_t)n);
}

/* Write the pending rounds; kept for the next try when nobody reads. */
static int worker_flush(struct worker_emu *e)
{
	int rc = 0;

	if (e->pend.count > 0) {
		rc = worker_emit(e, &e->pend);
		if (rc == 0) {
			e->pend.count = 0;
			e->orphan_since = 0;
		} else if (rc == -EPIPE && e->orphan_since == 0) {
			e->orphan_since = e->now_s > 0 ? e->now_s : 1e-9;
		}
	}
	e->flushed_s = e->now_s;
	return rc;
}

static void worker_add_round(struct worker_emu *e, uint64_t round, double factor)
{
	const struct worker_opts *o = e->o;
	double round_s = o->round_s * factor;
	double compute = fmin((double)o->tasks * o->compute_s * factor, round_s);

	if (e->pend.count == 0) {
		e->pend = (struct report_line){ .kind = REPORT_ROUND, .first = round };
	}
	e->pend.count++;
	e->pend.compute_s += compute;
	e->pend.sync_s += round_s - compute;
	e->pend.loss = worker_emulated_loss(o->seed, round);
	e->done++;
	worker_progress_round(&e->progress, o, round, compute, round_s - compute, e->pend.loss,
			      e->now_s);
}

/* Run the rounds; returns 1 when stopped, 0 when all ran. */
static int worker_rounds(struct worker_emu *e)
{
	const struct worker_opts *o = e->o;
	double batch_s = o->report_ms / 1000.0;

	e->due_s += o->restart_s / o->time_scale;
	if (worker_sleep_until(e))
		return 1;
	worker_progress_init(&e->progress, e->now_s);
	for (uint64_t i = 0; i < o->round_count; i++) {
		uint64_t round = o->round_first + i;
		double f = worker_noise_factor(o->seed, round, o->noise_cv);

		e->due_s += o->round_s * f / o->time_scale;
		if (worker_sleep_until(e))
			return 1;
		worker_add_round(e, round, f);
		/* orphaned: try every round, so a new reader is seen at once */
		if (e->now_s - e->flushed_s >= batch_s || e->pend.count == UINT32_MAX ||
		    e->orphan_since > 0)
			worker_flush(e);
		if (o->orphan_timeout_s > 0 && e->orphan_since > 0 &&
		    e->now_s - e->orphan_since >= o->orphan_timeout_s) {
			log_warn("worker job=%llu lease=%llu rank=%u: nobody has read its reports for "
				 "%.1f s (its agent is gone); stopping", (unsigned long long)o->job_id,
				 (unsigned long long)o->lease_id, o->rank, e->now_s - e->orphan_since);
			return 1;
		}
	}
	return 0;
}

/* The final line must reach a reader: an agent that restarts reopens the
 * report pipe, so keep trying for report_wait_s. */
static int worker_finish(struct worker_emu *e, enum report_kind kind)
{
	struct report_line end = { .kind = kind, .rounds = e->done };
	/* orphaned, its stop is its own: keep trying, an agent may adopt it */
	double give_up = worker_since(&e->t0) +
			 (kind == REPORT_DONE || e->orphan_since > 0 ? e->o->report_wait_s : 0);
	int rc;

	for (;;) {
		rc = worker_flush(e);
		if (rc == 0)
			rc = worker_emit(e, &end);
		if (rc == 0 || rc != -EPIPE || worker_since(&e->t0) >= give_up || worker_stop)
			break;
		e->due_s = worker_since(&e->t0) + 0.5;
		worker_sleep_until(e);
	}
	if (rc < 0)
		log_error("worker job=%llu lease=%llu rank=%u: cannot write report: %s",
			  (unsigned long long)e->o->job_id, (unsigned long long)e->o->lease_id,
			  e->o->rank, strerror(-rc));
	return rc;
}

static void worker_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* a report pipe nobody reads must not kill the training */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int worker_emulate_run(const struct worker_opts *o)
{
	struct worker_emu e = { .o = o };
	int stopped, rc;

	worker_signals();
	clock_gettime(CLOCK_MONOTONIC, &e.t0);
	log_debug("worker job=%llu lease=%llu rank=%u/%u model=%s gpu=%s rounds=%llu+%llu "
		  "round_s=%g scale=%g", (unsigned long long)o->job_id,
		  (unsigned long long)o->lease_id, o->rank, o->world_size, o->model, o->gpu_type,
		  (unsigned long long)o->round_first, (unsigned long long)o->round_count,
		  o->round_s, o->time_scale);
	stopped = worker_rounds(&e);
	if (stopped) {
		/* completed rounds are real progress; the partial one is not reported */
		worker_finish(&e, REPORT_STOPPED);
		return WORKER_EXIT_OK;
	}
	rc = worker_finish(&e, REPORT_DONE);
	if (rc < 0 && worker_stop)
		return WORKER_EXIT_OK;
	return rc < 0 ? WORKER_EXIT_FAILED : WORKER_EXIT_OK;
}
