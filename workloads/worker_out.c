/* SPDX-License-Identifier: MIT */
/* Report lines of the real worker: rounds batched by --report-ms, atomic
 * line writes, and a final line retried while nobody reads the pipe. */
#include "worker_engine.h"

#include "report.h"
#include "log.h"
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double worker_now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void worker_out_init(struct worker_out *w, int fd, uint32_t report_ms, double wait_s)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->batch_s = report_ms / 1000.0;
	w->wait_s = wait_s;
	w->flushed_s = worker_now_s();
}

int worker_out_raw(struct worker_out *w, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(w->fd, line, len);

		if (n >= 0) {
			line += n;
			len -= (size_t)n;
		} else if (errno == EAGAIN) {
			struct pollfd p = { .fd = w->fd, .events = POLLOUT };

			poll(&p, 1, 50);
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

static int worker_out_emit(struct worker_out *w, const struct report_line *r)
{
	char line[REPORT_LINE_MAX];
	int n = report_line_format(r, line, sizeof(line));

	return n < 0 ? n : worker_out_raw(w, line, (size_t)n);
}

int worker_out_flush(struct worker_out *w, double now_s)
{
	struct report_line r = { .kind = REPORT_ROUND, .first = w->first, .count = w->count,
				 .compute_s = w->compute_s, .sync_s = w->sync_s, .loss = w->loss };
	int rc = 0;

	if (w->count > 0) {
		rc = worker_out_emit(w, &r);
		if (rc == 0) {
			w->reported += w->count;
			w->count = 0;
			w->orphan_since = 0;
		} else if (rc == -EPIPE && w->orphan_since == 0) {
			w->orphan_since = now_s;	/* its agent is gone, for now */
		}
	}
	w->flushed_s = now_s;
	return rc;
}

int worker_out_round(struct worker_out *w, uint64_t round, double compute_s, double sync_s,
		     double loss, double now_s)
{
	if (w->count == 0) {
		w->first = round;
		w->compute_s = w->sync_s = 0;
	}
	w->count++;
	w->compute_s += compute_s;
	w->sync_s += sync_s;
	w->loss = loss;
	/* orphaned: try every round, so a new reader is seen at once */
	if (now_s - w->flushed_s >= w->batch_s || w->count == UINT32_MAX || w->orphan_since > 0)
		return worker_out_flush(w, now_s);
	return 0;
}

int worker_out_finish(struct worker_out *w, bool done, volatile sig_atomic_t *stop)
{
	/* orphaned, the stop is its own: an agent that adopts it in time must
	 * read that it stopped, not a worker gone without a word */
	bool orphan = w->orphan_since > 0;
	double give_up = worker_now_s() + (done || orphan ? w->wait_s : 0);
	int rc;

	for (;;) {
		struct report_line end = { .kind = done ? REPORT_DONE : REPORT_STOPPED };

		rc = worker_out_flush(w, worker_now_s());
		end.rounds = w->reported + w->count;
		if (rc == 0)
			rc = worker_out_emit(w, &end);
		if (rc != -EPIPE || worker_now_s() >= give_up || (stop && *stop && !orphan))
			return rc;
		usleep(500000);
	}
}

void worker_progress_init(struct worker_progress *p, double now_s)
{
	memset(p, 0, sizeof(*p));
	p->last_s = now_s;
}

void worker_progress_round(struct worker_progress *p, const struct worker_opts *o, uint64_t round,
			   double compute_s, double sync_s, double loss, double now_s)
{
	double n;

	p->rounds++;
	p->compute_s += compute_s;
	p->sync_s += sync_s;
	if (o->progress_s <= 0 || now_s - p->last_s < o->progress_s)
		return;
	n = (double)p->rounds;
	/* emulated rounds are in profile seconds, time_scale times the wall's:
	 * say so, or "60 s" of wall time next to 0.37 s a round over 160,000
	 * rounds reads as a contradiction */
	log_info("worker job=%llu lease=%llu rank=%u: round %llu of %llu, loss %.4g; %llu rounds in "
		 "%.1f s, %.4g s a round (compute %.4g s, sync %.4g s)%s",
		 (unsigned long long)o->job_id, (unsigned long long)o->lease_id, o->rank,
		 (unsigned long long)(round + 1),
		 (unsigned long long)(o->round_first + o->round_count), loss,
		 (unsigned long long)p->rounds, now_s - p->last_s, (p->compute_s + p->sync_s) / n,
		 p->compute_s / n, p->sync_s / n,
		 o->emulate && o->time_scale != 1 ? " (rounds in emulated seconds, time_scale times "
		 "the wall clock's)" : "");
	worker_progress_init(p, now_s);
}
