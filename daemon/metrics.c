/* SPDX-License-Identifier: MIT */
/* Metrics in the Prometheus text format: what an operator graphs and
 * alerts on (queue length, GPUs busy per type, failures, plan latency). */
#include "metrics.h"

#include "conn.h"
#include "driver.h"
#include "hared.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The row of GPU type name (a new one, or "other" past the last). */
static struct metrics_gpus *metrics_type_row(struct metrics_sample *m, const char *name)
{
	for (uint32_t t = 0; t < m->ntypes; t++)
		if (strcmp(m->gpus[t].type, name) == 0)
			return &m->gpus[t];
	if (m->ntypes >= METRICS_TYPES_MAX)
		name = "other";
	for (uint32_t t = 0; t < m->ntypes; t++)
		if (strcmp(m->gpus[t].type, name) == 0)
			return &m->gpus[t];
	snprintf(m->gpus[m->ntypes].type, sizeof(m->gpus[0].type), "%s", name);
	return &m->gpus[m->ntypes++];
}

static void metrics_nodes(struct hared *d, struct metrics_sample *m)
{
	for (uint32_t i = 0; i < driver_node_count(d->drv); i++) {
		const struct drv_node *n = driver_node_at(d->drv, i);

		if (!n)
			continue;	/* forgotten */
		if (n->drained)
			m->nodes_drained++;
		else if (n->up && n->unhealthy)
			m->nodes_unhealthy++;
		else if (n->up)
			m->nodes_up++;
		else
			m->nodes_down++;
		for (uint32_t g = 0; g < n->ngpus; g++) {
			const struct drv_gpu *gpu = &n->gpus[g];
			struct metrics_gpus *row = metrics_type_row(m, gpu->type_name);

			if (!n->up || n->drained || n->unhealthy || gpu->type < 0 || gpu->measuring)
				row->unavailable++;
			else if (gpu->job_id || gpu->vacate_lease)
				row->busy++;
			else
				row->free++;
		}
	}
}

void metrics_gather(struct hared *d, struct metrics_sample *m)
{
	struct timespec ts;

	memset(m, 0, sizeof(*m));
	clock_gettime(CLOCK_REALTIME, &ts);
	m->now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	m->start_time = d->start_time;
	m->up = 1;
	for (uint32_t i = 0; i < driver_job_count(d->drv); i++) {
		const struct drv_job *j = driver_job_at(d->drv, i);

		/* adopt_wait: ran before a restart, its workers awaited */
		if (j->lease.id || j->adopt_wait)
			m->jobs_running++;
		else if (j->rec.held)
			m->jobs_held++;
		else if (j->nafter_wait)
			m->jobs_waiting++;
		else if (j->retry_at > m->now)
			m->jobs_backoff++;
		else
			m->jobs_queued++;
	}
	driver_stats_get(d->drv, &m->drv);
	for (uint32_t t = 0; t < m->drv.ntypes && t < SCHED_MAX_TYPES; t++)
		m->type_names[t] = driver_type_name(d->drv, (int32_t)t);
	m->submits = d->submits;
	m->store_write_failures = store_write_failures(d->store, NULL);
	m->agent_refused_key = d->agent_refused_key;
	m->agent_refused_tag = d->agent_refused_tag;
	m->agent_refused_nokey = d->agent_refused_nokey;
	m->agent_refused_tls = d->agent_refused_tls;
	m->tls_agent = d->tls_sessions[CONN_AGENT];
	m->tls_client = d->tls_sessions[CONN_CLIENT_TCP];
	m->failed_agent = d->tls_failed[CONN_AGENT];
	m->failed_client = d->tls_failed[CONN_CLIENT_TCP];
	m->plain_agent = d->plain_sessions[CONN_AGENT];
	m->plain_client = d->plain_sessions[CONN_CLIENT_TCP];
	metrics_nodes(d, m);
	for (const struct conn *c = d->conns; c; c = c->next) {
		m->agents += c->state == CONN_READY;
		m->clients += c->state == CONN_CLIENT;
	}
}

/* A label value: backslash and double quote escaped; bytes other than
 * printable ASCII (an agent's type name may be anything, and one bad
 * UTF-8 sequence would make the whole file unreadable) as '_'. */
static void metrics_label(FILE *f, const char *v)
{
	for (; *v; v++) {
		unsigned char ch = (unsigned char)*v;

		if (ch == '\\' || ch == '"')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fputc('_', f);
		else
			fputc(ch, f);
	}
}

static void metrics_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter of one value, without labels. */
static void metrics_counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	metrics_head(f, name, "counter", help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* hared itself, and its jobs by state. */
static void metrics_format_jobs(const struct metrics_sample *m, FILE *f)
{
	metrics_head(f, "hare_up", "gauge", "1 while hared runs; 0 written as it stops.");
	fprintf(f, "hare_up %d\n", m->up);
	metrics_head(f, "hare_start_time_seconds", "gauge", "When hared started, unix seconds.");
	fprintf(f, "hare_start_time_seconds %.3f\n", m->start_time);
	metrics_head(f, "hare_metrics_time_seconds", "gauge",
		     "When this file was written, unix seconds (an old one: hared is gone).");
	fprintf(f, "hare_metrics_time_seconds %.3f\n", m->now);
	metrics_head(f, "hare_jobs", "gauge",
		     "Active jobs: queued, backoff (waiting after a failure), held, waiting (for "
		     "jobs they run after), running.");
	fprintf(f, "hare_jobs{state=\"queued\"} %u\nhare_jobs{state=\"backoff\"} %u\n"
		"hare_jobs{state=\"held\"} %u\nhare_jobs{state=\"waiting\"} %u\n"
		"hare_jobs{state=\"running\"} %u\n", m->jobs_queued, m->jobs_backoff, m->jobs_held,
		m->jobs_waiting, m->jobs_running);
	metrics_head(f, "hare_jobs_ended_total", "counter", "Jobs that ended since hared started.");
	fprintf(f, "hare_jobs_ended_total{state=\"done\"} %llu\n"
		"hare_jobs_ended_total{state=\"cancelled\"} %llu\n"
		"hare_jobs_ended_total{state=\"failed\"} %llu\n", (unsigned long long)m->drv.done,
		(unsigned long long)m->drv.cancelled, (unsigned long long)m->drv.failed);
	metrics_counter(f, "hare_submissions_total",
			"Jobs submitted since hared started.",
			m->submits);
}

/* What went wrong: failed workers, preemptions, quarantines, node faults. */
static void metrics_format_failures(const struct metrics_sample *m, FILE *f)
{
	metrics_counter(f, "hare_worker_failures_total",
			"Leases ended by a failed worker (the job retried or FAILED).",
			m->drv.worker_failures);
	metrics_counter(f, "hare_worker_peer_failures_total",
			"Of those, leases a worker ended because a peer rank or the network "
			"failed (exit code 75): its node not charged.",
			m->drv.peer_failures);
	metrics_counter(f, "hare_worker_late_blames_total",
			"Nodes charged after a peer failure, when the rank that failed by itself "
			"reported.",
			m->drv.late_blames);
	metrics_counter(f, "hare_worker_unexplained_failures_total",
			"Peer failures of leases on 2 to 8 known nodes whose culprit never reported "
			"within 120 s: each node of the lease noted a suspect failure.",
			m->drv.unexplained);
	metrics_counter(f, "hare_preemptions_total",
			"Leases a plan stopped (to run other jobs, or to move or resize the job).",
			m->drv.preemptions);
	metrics_counter(f, "hare_node_quarantines_total",
			"Nodes hared drained because workers of many jobs failed there "
			"(quarantine_jobs), or their health check kept failing "
			"(quarantine_health_fails).",
			m->drv.quarantines);
	metrics_counter(f, "hare_prolog_epilog_failures_total",
			"Node faults agents reported: prologs and epilogs (prolog, epilog in "
			"agent.conf) that failed, and processes of a task that outlived SIGKILL "
			"(unkillable_timeout_s); hared drains the node of each, unless it is "
			"drained already.",
			m->drv.node_faults);
	metrics_counter(f, "hare_nodes_forgotten_total",
			"Nodes forgotten: by harectl forget, or, the node table full, to make "
			"room for a new node.",
			m->drv.nodes_forgotten);
	metrics_counter(f, "hare_node_health_failures_total",
			"Times a node turned unhealthy: its agent's health check failed "
			"(health_check in agent.conf).",
			m->drv.health_fails);
}

/* Nodes by state, and GPUs by type and state. */
static void metrics_format_cluster(const struct metrics_sample *m, FILE *f)
{
	static const char *const gpu_states[] = { "busy", "free", "unavailable" };

	metrics_head(f, "hare_nodes", "gauge",
		     "Nodes known: up, down (agent away), drained, unhealthy (up, its health "
		     "check fails).");
	fprintf(f, "hare_nodes{state=\"up\"} %u\nhare_nodes{state=\"down\"} %u\n"
		"hare_nodes{state=\"drained\"} %u\nhare_nodes{state=\"unhealthy\"} %u\n",
		m->nodes_up, m->nodes_down, m->nodes_drained, m->nodes_unhealthy);
	metrics_head(f, "hare_gpus", "gauge",
		     "GPUs by type: busy (a worker on it), free, unavailable (down, drained, "
		     "unhealthy, unprofiled or being measured).");
	for (uint32_t t = 0; t < m->ntypes; t++) {
		const uint32_t v[3] = { m->gpus[t].busy, m->gpus[t].free, m->gpus[t].unavailable };

		for (int s = 0; s < 3; s++) {
			fputs("hare_gpus{type=\"", f);
			metrics_label(f, m->gpus[t].type);
			fprintf(f, "\",state=\"%s\"} %u\n", gpu_states[s], v[s]);
		}
	}
	metrics_head(f, "hare_gpu_seconds_total", "counter",
		     "GPU-seconds that leases held since hared started, by GPU type (harectl "
		     "usage sums the store's whole history).");
	for (uint32_t t = 0; t < m->drv.ntypes && t < SCHED_MAX_TYPES; t++) {
		fputs("hare_gpu_seconds_total{type=\"", f);
		metrics_label(f, m->type_names[t] ? m->type_names[t] : "?");
		fprintf(f, "\"} %.3f\n", m->drv.gpu_s[t]);
	}
}

/* Plans, their latency and bound; round reports; the store. */
static void metrics_format_plans(const struct metrics_sample *m, FILE *f)
{
	metrics_counter(f, "hare_plans_total",
			"Plans applied since hared started.",
			m->drv.plans);
	metrics_head(f, "hare_plan_latency_milliseconds", "summary",
		     "Policy wall time per plan: quantiles over the last plans, sum and count "
		     "over all.");
	/* no plan yet: quantiles of nothing are NaN, as Prometheus' clients write */
	if (m->drv.plans == 0)
		fputs("hare_plan_latency_milliseconds{quantile=\"0.5\"} NaN\n"
		      "hare_plan_latency_milliseconds{quantile=\"0.99\"} NaN\n", f);
	else
		fprintf(f, "hare_plan_latency_milliseconds{quantile=\"0.5\"} %.3f\n"
			"hare_plan_latency_milliseconds{quantile=\"0.99\"} %.3f\n", m->drv.plan_p50_ms,
			m->drv.plan_p99_ms);
	fprintf(f, "hare_plan_latency_milliseconds_sum %.3f\n"
		"hare_plan_latency_milliseconds_count %llu\n", m->drv.plan_ms_sum,
		(unsigned long long)m->drv.plans);
	metrics_head(f, "hare_lp_bound_seconds", "gauge",
		     "The last plan's LP bound on weighted completion time (0: none).");
	fprintf(f, "hare_lp_bound_seconds %.3f\n", isfinite(m->drv.lp_bound_s) ? m->drv.lp_bound_s : 0.0);
	metrics_head(f, "hare_round_reports_total", "counter",
		     "Round reports from workers: accepted, or ignored (unknown job or lease).");
	fprintf(f, "hare_round_reports_total{result=\"accepted\"} %llu\n"
		"hare_round_reports_total{result=\"ignored\"} %llu\n", (unsigned long long)m->drv.reports,
		(unsigned long long)m->drv.reports_ignored);
	metrics_counter(f, "hare_store_write_failures_total",
			"Batched database writes lost (locked past the timeout, disk full).",
			m->store_write_failures);
}

/* Sessions: agents refused, TCP sessions, open connections. */
static void metrics_format_sessions(const struct metrics_sample *m, FILE *f)
{
	metrics_head(f, "hare_agent_refusals_total", "counter",
		     "Agent sessions refused: a wrong key, a frame without its tag, no key, in the "
		     "clear under tls = required.");
	fprintf(f, "hare_agent_refusals_total{reason=\"key\"} %llu\n"
		"hare_agent_refusals_total{reason=\"tag\"} %llu\n"
		"hare_agent_refusals_total{reason=\"no_key\"} %llu\n"
		"hare_agent_refusals_total{reason=\"tls\"} %llu\n",
		(unsigned long long)m->agent_refused_key, (unsigned long long)m->agent_refused_tag,
		(unsigned long long)m->agent_refused_nokey, (unsigned long long)m->agent_refused_tls);
	metrics_head(f, "hare_tcp_sessions_total", "counter",
		     "Sessions begun on the TCP ports: in TLS, whose TLS failed (a wrong key or "
		     "token, altered bytes), in the clear (older agents and harectl, served or "
		     "refused).");
	fprintf(f, "hare_tcp_sessions_total{tls=\"yes\",port=\"agent\"} %llu\n"
		"hare_tcp_sessions_total{tls=\"yes\",port=\"client\"} %llu\n"
		"hare_tcp_sessions_total{tls=\"failed\",port=\"agent\"} %llu\n"
		"hare_tcp_sessions_total{tls=\"failed\",port=\"client\"} %llu\n"
		"hare_tcp_sessions_total{tls=\"no\",port=\"agent\"} %llu\n"
		"hare_tcp_sessions_total{tls=\"no\",port=\"client\"} %llu\n",
		(unsigned long long)m->tls_agent, (unsigned long long)m->tls_client,
		(unsigned long long)m->failed_agent, (unsigned long long)m->failed_client,
		(unsigned long long)m->plain_agent, (unsigned long long)m->plain_client);
	metrics_head(f, "hare_connections", "gauge", "Open sessions: registered agents, clients.");
	fprintf(f, "hare_connections{role=\"agent\"} %u\nhare_connections{role=\"client\"} %u\n",
		m->agents, m->clients);
}

int metrics_format(const struct metrics_sample *m, FILE *f)
{
	metrics_format_jobs(m, f);
	metrics_format_failures(m, f);
	metrics_format_cluster(m, f);
	metrics_format_plans(m, f);
	metrics_format_sessions(m, f);
	return ferror(f) ? -EIO : 0;
}

int metrics_write(struct hared *d, int up, char *errbuf, size_t errlen)
{
	char tmp[HARED_PATH_LEN + 8];
	struct metrics_sample m;
	FILE *f;
	int fd, rc;

	if (!d->cfg.metrics_file[0])
		return 0;
	metrics_gather(d, &m);
	m.up = up;
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg.metrics_file);
	/* a new regular file: whatever is there (a FIFO that would block the
	 * loop, a link to another file) goes first */
	if (unlink(tmp) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot remove %s: %s", tmp, strerror(-rc));
		return rc;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		return rc;
	}
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		unlink(tmp);
		snprintf(errbuf, errlen, "cannot write %s: %s", tmp, strerror(-rc));
		return rc;
	}
	rc = metrics_format(&m, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -EIO;
	if (rc == 0 && rename(tmp, d->cfg.metrics_file) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		snprintf(errbuf, errlen, "cannot write %s: %s", d->cfg.metrics_file, strerror(-rc));
	}
	return rc;
}
