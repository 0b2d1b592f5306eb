/* SPDX-License-Identifier: MIT */
/* What hared has now, as harectl queue, nodes, show and wait print it: tables,
 * key: value job details, and their JSON. */
#include "format_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* Held by harectl hold (by its owner or by root)? */
static bool cli_job_held(const Hare__JobInfo *j)
{
	/* an ended job's hold means nothing any more */
	return j->has_held && j->held != HARE__JOB_HELD__JOB_HELD_NONE &&
	       (j->state == HARE__JOB_STATE__QUEUED || j->state == HARE__JOB_STATE__RUNNING);
}

/* Queued until the jobs it runs after are DONE (harectl queue: WAITING)? */
static bool cli_job_waiting(const Hare__JobInfo *j)
{
	return j->state == HARE__JOB_STATE__QUEUED && j->n_after_pending > 0;
}

static const char *cli_held_by(const Hare__JobInfo *j)
{
	return j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? "root" : "owner";
}

/* Count names by first appearance and write "2xV100+1xT4". */
static void cli_count_join(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		size_t count = 0;
		bool seen = false;
		int w;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(names[k], names[i]) == 0;
		if (seen)
			continue;
		for (size_t k = i; k < n; k++)
			count += strcmp(names[k], names[i]) == 0;
		w = snprintf(buf + used, len - used, "%s%zux%s", used ? "+" : "", count, names[i]);
		used += w > 0 ? (size_t)w : 0;
	}
}

void cli_types_format(const Hare__JobInfo *j, char *buf, size_t len)
{
	const char *names[256];
	size_t n = 0;

	if (len == 0)
		return;
	if (j->n_placement == 0) {
		size_t used = 0;

		snprintf(buf, len, "%s", j->n_gpu_types ? "" : "any");
		for (size_t i = 0; i < j->n_gpu_types && used < len; i++) {
			int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", cli_str(j->gpu_types[i]));

			used += w > 0 ? (size_t)w : 0;
		}
		return;
	}
	for (size_t i = 0; i < j->n_placement && n < 256; i++)
		names[n++] = j->placement[i]->gpu_type ? j->placement[i]->gpu_type : "?";
	cli_count_join(names, n, buf, len);
}

static void cli_gpus_format(const Hare__JobInfo *j, char *buf, size_t len)
{
	uint32_t lo = j->has_min_gpus ? j->min_gpus : 1;
	uint32_t hi = j->has_max_gpus ? j->max_gpus : j->tasks;

	if (j->n_placement > 0)
		snprintf(buf, len, "%zu", j->n_placement);
	else if (lo >= hi)
		snprintf(buf, len, "%u", hi);
	else
		snprintf(buf, len, "%u-%u", lo, hi);
}

static bool cli_job_active(const Hare__JobInfo *j)
{
	return j->state == HARE__JOB_STATE__QUEUED || j->state == HARE__JOB_STATE__RUNNING;
}

/* START and FINISH: the actual time when there is one, else the plan's
 * estimate (while the job is active), else "-". */
static void cli_when_format(bool has_actual, double actual, bool has_est, double est, bool active, double now,
			    char *buf, size_t len)
{
	if (has_actual && actual > 0)
		cli_time_format(actual, now, false, buf, len);
	else if (active && has_est && est > 0 && isfinite(est))
		cli_time_format(est, now, true, buf, len);
	else
		snprintf(buf, len, "-");
}

struct cli_queue_rows {
	const Hare__QueueReply *q;
	double now;
};

static void cli_queue_row(struct cli_table *t, size_t r, const void *user)
{
	const struct cli_queue_rows *qr = user;
	const Hare__JobInfo *j = qr->q->jobs[r];
	double now = qr->now;
	char cell[CLI_CELL];
	bool active = cli_job_active(j);

	cli_table_set(t, 0, "%llu", (unsigned long long)j->job_id);
	cli_table_set(t, 1, "%s", cli_str(j->user));
	cli_table_set(t, 2, "%s", j->name && j->name[0] ? j->name : "-");
	/* a hold outranks the wait: release is what it needs first */
	cli_table_set(t, 3, "%s", cli_job_held(j) && j->state == HARE__JOB_STATE__QUEUED ? "HELD" :
		      cli_job_waiting(j) ? "WAITING" : cli_state_name(j->state));
	cli_gpus_format(j, cell, sizeof(cell));
	cli_table_set(t, 4, "%s", cell);
	cli_types_format(j, cell, sizeof(cell));
	cli_table_set(t, 5, "%s", cell);
	cli_progress_format(j->rounds_done, j->rounds_total, cell, sizeof(cell));
	cli_table_set(t, 6, "%s", cell);
	if (active && j->has_order)
		cli_table_set(t, 7, "%u", j->order + 1);
	else
		cli_table_set(t, 7, "-");
	if (cli_job_waiting(j) && !(j->has_start_time && j->start_time > 0))
		/* no estimate: it starts once these are DONE */
		snprintf(cell, sizeof(cell), "after %llu%s", (unsigned long long)j->after_pending[0],
			 j->n_after_pending > 1 ? " +more" : "");
	else
		cli_when_format(j->has_start_time, j->start_time, j->has_est_start, j->est_start, active,
				now, cell, sizeof(cell));
	cli_table_set(t, 8, "%s", cell);
	cli_when_format(j->has_finish_time, j->finish_time, j->has_est_finish, j->est_finish, active, now, cell,
			sizeof(cell));
	cli_table_set(t, 9, "%s", cell);
}

/* The daemon's plan count and decision latency, when it sent them. */
static void cli_queue_footer(FILE *f, const Hare__QueueReply *q)
{
	if (!q->has_plans)
		return;
	fprintf(f, "plans: %llu", (unsigned long long)q->plans);
	if (q->has_plan_p50_ms && q->has_plan_p99_ms)
		fprintf(f, "  decision latency p50 %.3g ms, p99 %.3g ms", q->plan_p50_ms,
			q->plan_p99_ms);
	fputc('\n', f);
}

void cli_queue_cut_note(FILE *err, const Hare__QueueReply *q, bool filters, bool all)
{
	if (!q->has_cut_jobs || q->cut_jobs == 0)
		return;
	fprintf(err, "harectl: %u more job%s not shown (%s): the queue is more than one reply of "
		"hared holds", q->cut_jobs, q->cut_jobs == 1 ? "" : "s",
		all ? "finished ones first, the oldest first, then the newest active ones" :
		"the newest");
	/* --state chooses among the jobs hared sent, not before */
	if (filters)
		fprintf(err, "; --state chooses among the jobs sent, so some left out may match too");
	if (all)
		fprintf(err, "; without --all (and finished states in --state) hared sends active "
			"jobs only\n");
	else
		fprintf(err, "; harectl show JOBID shows any job\n");
}

int cli_queue_print(FILE *f, const Hare__QueueReply *q, double now)
{
	static const char *const headers[] = { "JOBID", "USER", "NAME", "STATE", "GPUS", "TYPES", "PROGRESS",
					       "ORDER", "START", "FINISH" };
	struct cli_queue_rows qr = { .q = q, .now = now };

	cli_table_print(f, 10, headers, q->n_jobs, cli_queue_row, &qr);
	cli_queue_footer(f, q);
	return 0;
}

/* An up node whose health check fails (its reason). */
static bool cli_node_unhealthy(const Hare__NodeInfo *node)
{
	return node->up && node->unhealthy && node->unhealthy[0];
}

/* Whether the node has a real GPU (one a worker could open another's of). */
static bool cli_node_real_gpus(const Hare__NodeInfo *node)
{
	for (size_t g = 0; g < node->n_gpus; g++) {
		if (!node->gpus[g]->emulated)
			return true;
	}
	return false;
}

static const char *cli_node_state(const Hare__NodeInfo *node, size_t busy)
{
	if (node->drained)
		return busy ? "draining" : "drained";
	if (cli_node_unhealthy(node))
		return "unhealthy";
	return node->up ? "up" : "down";
}

/* Whether a comma-separated list holds name. */
static bool cli_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = list; *p;) {
		const char *end = strchr(p, ',');
		size_t w = end ? (size_t)(end - p) : strlen(p);

		if (w == n && strncmp(p, name, n) == 0)
			return true;
		p += w + (end != NULL);
	}
	return false;
}

/* Append name to a comma-separated list unless it is there already. */
static void cli_list_add(char *list, size_t len, const char *name)
{
	size_t used = strlen(list);

	if (!cli_list_has(list, name))
		snprintf(list + used, len - used, "%s%s", used ? "," : "", name);
}

struct cli_node_rows {
	const Hare__NodesReply *n;
	double now;
};

/* What a node's GPUs come to: "2xV100+1xT4", how many are busy and how many
 * are not planned on (not profiled or being measured), and the types being
 * measured and the types not profiled (each once). */
struct cli_node_gpus {
	size_t busy, unused;
	char types[CLI_CELL], measuring[CLI_CELL], unprofiled[CLI_CELL];
};

/* The types of the node's GPUs that are not profiled and not being measured
 * on it, into list (comma-separated, each once). */
static void cli_node_unprofiled(const Hare__NodeInfo *node, const char *measuring, char *list,
				size_t len)
{
	for (size_t g = 0; g < node->n_gpus; g++) {
		char one[CLI_CELL] = "";

		cli_list_add(one, sizeof(one), cli_str(node->gpus[g]->type));
		if (!node->gpus[g]->unprofiled || cli_list_has(measuring, one))
			continue;
		cli_list_add(list, len, one);
	}
}

/* Fills c from the node's GPUs. */
static void cli_node_gpus_count(const Hare__NodeInfo *node, struct cli_node_gpus *c)
{
	const char *names[256];
	size_t k = 0;

	c->busy = c->unused = 0;
	c->measuring[0] = c->unprofiled[0] = '\0';
	for (size_t g = 0; g < node->n_gpus; g++) {
		const char *type = cli_str(node->gpus[g]->type);

		/* a stopped worker still runs there until it exits */
		c->busy += (node->gpus[g]->has_job_id && node->gpus[g]->job_id != 0) ||
			   node->gpus[g]->stopping;
		if (node->gpus[g]->unprofiled || node->gpus[g]->measuring)
			c->unused++;
		/* every such type, once each */
		if (node->gpus[g]->measuring)
			cli_list_add(c->measuring, sizeof(c->measuring), type);
		if (k < 256)
			names[k++] = type;
	}
	cli_node_unprofiled(node, c->measuring, c->unprofiled, sizeof(c->unprofiled));
	cli_count_join(names, k, c->types, sizeof(c->types));
}

/* For a down node: since when it is gone and, if its agent was refused,
 * when and why, into seen ("" for a node up). */
static void cli_node_seen(const Hare__NodeInfo *node, double now, char *seen, size_t len)
{
	char cell[CLI_CELL];

	seen[0] = '\0';
	if (!node->up && node->has_last_seen && node->last_seen > 0) {
		/* how long gone: a node gone for good is for harectl forget (a
		 * clock behind hared's: "now", not "in 3m") */
		cli_time_format(fmin(node->last_seen, now), now, false, cell, sizeof(cell));
		snprintf(seen, len, "last seen %s", cell);
	} else if (!node->up) {
		snprintf(seen, len, "not back since hared started");
	}
	if (!node->up && node->refused && node->refused[0]) {
		char when[CLI_CELL];
		size_t used = strlen(seen);

		cli_time_format(node->has_refused_at ? fmin(node->refused_at, now) : now, now,
				false, when, sizeof(when));
		snprintf(seen + used, len - used, "; refused %s %s", when, node->refused);
	}
}

/* The REASON cell (column 6): the first that holds of drained, unhealthy,
 * GPUs measured or not profiled, down, and an agent's older or weaker link. */
static void cli_node_reason(struct cli_table *t, const Hare__NodeInfo *node, double now,
			    const struct cli_node_gpus *c)
{
	char cell[CLI_CELL], seen[2 * CLI_CELL];

	cli_node_seen(node, now, seen, sizeof(seen));
	if (node->drained && node->drain_reason && node->drain_reason[0] && !node->up)
		cli_table_set(t, 6, "%s; down, %s", node->drain_reason, seen);
	else if (node->drained && node->drain_reason && node->drain_reason[0])
		cli_table_set(t, 6, "%s", node->drain_reason);
	else if (cli_node_unhealthy(node) && node->has_unhealthy_since) {
		cli_time_format(fmin(node->unhealthy_since, now), now, false, cell, sizeof(cell));
		cli_table_set(t, 6, "%s (since %s)", node->unhealthy, cell);
	} else if (cli_node_unhealthy(node))
		cli_table_set(t, 6, "%s", node->unhealthy);
	else if (c->measuring[0] && c->unprofiled[0])
		cli_table_set(t, 6, "measuring %s; not profiled: %s", c->measuring, c->unprofiled);
	else if (c->measuring[0])
		cli_table_set(t, 6, "measuring %s", c->measuring);
	else if (c->unprofiled[0])
		cli_table_set(t, 6, "not profiled: %s", c->unprofiled);
	else if (!node->up)
		cli_table_set(t, 6, "%s", seen);
	else if (node->has_tagged && !node->tagged)
		cli_table_set(t, 6, "agent older than hared: its frames are not tagged");
	else if (node->has_tls && !node->tls)
		cli_table_set(t, 6, "its link is not in TLS (an older agent, or its tls = no)");
	else if (node->has_gpus_isolated && !node->gpus_isolated && cli_node_real_gpus(node))
		cli_table_set(t, 6, "GPUs not isolated: a worker may open any of them (the agent's "
			      "log says why)");
	else
		cli_table_set(t, 6, "-");
}

/* Row i of harectl nodes: name, state, GPUs, busy, free, recent failures,
 * reason. */
static void cli_node_row(struct cli_table *t, size_t i, const void *user)
{
	const struct cli_node_rows *nr = user;
	const Hare__NodeInfo *node = nr->n->nodes[i];
	struct cli_node_gpus c;

	cli_node_gpus_count(node, &c);
	cli_table_set(t, 0, "%s", cli_str(node->name));
	cli_table_set(t, 1, "%s", cli_node_state(node, c.busy));
	cli_table_set(t, 2, "%s", c.types[0] ? c.types : "-");
	cli_table_set(t, 3, "%zu", c.busy);
	cli_table_set(t, 4, "%zu", node->up && !node->drained && !cli_node_unhealthy(node) &&
				      node->n_gpus >= c.busy + c.unused ?
				      node->n_gpus - c.busy - c.unused : 0);
	if (node->has_recent_failures && node->recent_failures > 0)
		cli_table_set(t, 5, "%u", node->recent_failures);
	else
		cli_table_set(t, 5, "-");
	cli_node_reason(t, node, nr->now, &c);
}

int cli_nodes_print(FILE *f, const Hare__NodesReply *n, double now)
{
	static const char *const headers[] = { "NODE", "STATE", "GPUS", "BUSY", "FREE", "FAILS",
					       "REASON" };
	struct cli_node_rows nr = { .n = n, .now = now };

	cli_table_print(f, 7, headers, n->n_nodes, cli_node_row, &nr);
	return 0;
}

/* ---- job details ---- */

static void cli_show_time(FILE *f, const char *key, bool has, double t, bool estimate, double now)
{
	char iso[40] = "-", rel[48];
	struct tm tm;

	if (!has || !(t > 0) || !cli_localtime(t, &tm)) {
		fprintf(f, "%-13s-\n", key);
		return;
	}
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%S%z", &tm);
	cli_time_format(t, now, estimate, rel, sizeof(rel));
	fprintf(f, "%-13s%s (%s)\n", key, iso, rel);
}

static void cli_show_placement(FILE *f, const Hare__JobInfo *j)
{
	fprintf(f, "%-13s", "placement:");
	if (j->n_placement == 0)
		fputs("-", f);
	for (size_t i = 0; i < j->n_placement; i++) {
		const Hare__JobPlacement *p = j->placement[i];

		fprintf(f, "%s%s/%u %s x%u", i ? ", " : "", cli_str(p->node), p->gpu_index, cli_str(p->gpu_type),
			p->tasks);
	}
	fputc('\n', f);
}

/* Whether id is among the n ids at v. */
static bool cli_ids_have(const uint64_t *v, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

/* "after:       41 (done), any:42 (waiting), notok:43 (waiting)". hared
 * lists the ones pending of an active job only: a job that ran (RUNNING,
 * DONE, FAILED) did so once each had ended as it needed, and of a
 * CANCELLED one (by its owner, or because one of them did not end so)
 * nothing is known: bare ids. */
static void cli_show_after(FILE *f, const Hare__JobInfo *j)
{
	static const char *const ended[] = { " (done)", " (ended)", " (ended, not DONE)" };
	bool queued = j->state == HARE__JOB_STATE__QUEUED;
	bool known = j->state != HARE__JOB_STATE__CANCELLED;

	if (j->n_after == 0)
		return;
	fprintf(f, "%-13s", "after:");
	for (size_t i = 0; i < j->n_after; i++) {
		bool pending = cli_ids_have(j->after_pending, j->n_after_pending, j->after[i]);
		int kind = cli_ids_have(j->after_notok, j->n_after_notok, j->after[i]) ? 2 :
			   cli_ids_have(j->after_any, j->n_after_any, j->after[i]) ? 1 : 0;

		fprintf(f, "%s%s%llu%s", i ? ", " : "", kind == 2 ? "notok:" : kind == 1 ? "any:" : "",
			(unsigned long long)j->after[i],
			!known ? "" : !pending ? ended[kind] : queued ? " (waiting)" : "");
	}
	fputc('\n', f);
}

/* "gpu_hours:   3.50 (V100 2.50, T4 1.00)": what its leases held so far. */
static void cli_show_gpu_time(FILE *f, const Hare__JobInfo *j)
{
	double total = 0;
	char h[32];

	for (size_t i = 0; i < j->n_gpu_time; i++)
		total += isfinite(j->gpu_time[i]->gpu_s) ? j->gpu_time[i]->gpu_s : 0;
	cli_hours_format(total, h, sizeof(h));
	fprintf(f, "%-13s%s", "gpu_hours:", j->n_gpu_time ? h : "-");
	for (size_t i = 0; i < j->n_gpu_time; i++) {
		cli_hours_format(j->gpu_time[i]->gpu_s, h, sizeof(h));
		fprintf(f, "%s%s %s", i ? ", " : " (", cli_str(j->gpu_time[i]->gpu_type), h);
	}
	fprintf(f, "%s\n", j->n_gpu_time ? ")" : "");
}

void cli_job_print(FILE *f, const Hare__JobInfo *j, double now)
{
	char buf[CLI_CELL];

	fprintf(f, "%-13s%llu\n", "job_id:", (unsigned long long)j->job_id);
	fprintf(f, "%-13s%s\n", "name:", j->name && j->name[0] ? j->name : "-");
	fprintf(f, "%-13s%s\n", "user:", cli_str(j->user));
	fprintf(f, "%-13s%s\n", "model:", cli_str(j->model));
	if (j->proxy && j->proxy[0])
		fprintf(f, "%-13s%s\n", "proxy:", j->proxy);
	if (j->command && j->command[0])
		fprintf(f, "%-13s%s\n", "command:", j->command);
	fprintf(f, "%-13s%s\n", "state:", cli_state_name(j->state));
	if (cli_job_held(j))
		fprintf(f, "%-13syes, by %s%s (harectl release %llu)\n", "held:",
			j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? "root" : "its owner",
			j->held == HARE__JOB_HELD__JOB_HELD_ADMIN ? ", who alone may release it" : "",
			(unsigned long long)j->job_id);
	cli_show_after(f, j);
	fprintf(f, "%-13s%u\n", "tasks:", j->tasks);
	fprintf(f, "%-13s%u%s\n", "min_gpus:", j->has_min_gpus ? j->min_gpus : 1, j->has_min_gpus ? "" : " (default)");
	fprintf(f, "%-13s%u%s\n", "max_gpus:", j->has_max_gpus ? j->max_gpus : j->tasks,
		j->has_max_gpus ? "" : " (default)");
	fprintf(f, "%-13s", "gpu_types:");
	for (size_t i = 0; i < j->n_gpu_types; i++)
		fprintf(f, "%s%s", i ? "," : "", cli_str(j->gpu_types[i]));
	fprintf(f, "%s\n", j->n_gpu_types ? "" : "any");
	fprintf(f, "%-13s%g\n", "weight:", j->weight);
	cli_progress_format(j->rounds_done, j->rounds_total, buf, sizeof(buf));
	fprintf(f, "%-13s%s\n", "rounds:", buf);
	if (j->has_loss && isfinite(j->loss))
		fprintf(f, "%-13s%.4g\n", "loss:", j->loss);
	else
		fprintf(f, "%-13s-\n", "loss:");
	if (cli_job_active(j) && j->has_order)
		fprintf(f, "%-13s%u\n", "order:", j->order + 1);
	else
		fprintf(f, "%-13s-\n", "order:");
	cli_show_placement(f, j);
	cli_show_time(f, "submit_time:", j->has_submit_time, j->submit_time, false, now);
	cli_show_time(f, "start_time:", j->has_start_time, j->start_time, false, now);
	cli_show_time(f, "finish_time:", j->has_finish_time, j->finish_time, false, now);
	/* a running job has its start_time; est_start is for one that waits */
	cli_show_time(f, "est_start:", j->has_est_start && j->state == HARE__JOB_STATE__QUEUED,
		      j->est_start, true, now);
	cli_show_time(f, "est_finish:", j->has_est_finish && cli_job_active(j), j->est_finish, true, now);
	if (j->waiting && j->waiting[0])
		fprintf(f, "%-13s%s\n", "waiting:", j->waiting);
	if (j->end_reason && j->end_reason[0])
		fprintf(f, "%-13s%s\n", "cancelled:", j->end_reason);
	if (j->n_avoided_nodes > 0) {
		fprintf(f, "%-13s", "avoiding:");
		for (size_t i = 0; i < j->n_avoided_nodes; i++)
			fprintf(f, "%s%s", i ? ", " : "", cli_str(j->avoided_nodes[i]));
		fprintf(f, " (its workers failed there)\n");
	}
	cli_show_gpu_time(f, j);
	fprintf(f, "%-13s%u\n", "restarts:", j->has_restarts ? j->restarts : 0);
	if (j->last_error && j->last_error[0]) {
		/* why a lease failed: node, rank and what the agent saw */
		fprintf(f, "%-13s%s\n", "last_error:", j->last_error);
		cli_show_time(f, "error_time:", j->has_last_error_time, j->last_error_time, false, now);
	}
}

/* ---- JSON documents ---- */

static void cli_json_opt_u(FILE *f, const char *key, bool has, unsigned long long v)
{
	if (has) {
		cli_json_key(f, key);
		fprintf(f, "%llu", v);
	}
}

static void cli_json_opt_d(FILE *f, const char *key, bool has, double v)
{
	if (has) {
		cli_json_key(f, key);
		cli_json_double(f, v);
	}
}

static void cli_json_placement(FILE *f, const Hare__JobInfo *j)
{
	cli_json_key(f, "placement");
	fputc('[', f);
	for (size_t i = 0; i < j->n_placement; i++) {
		const Hare__JobPlacement *p = j->placement[i];

		fputs(i ? ",{\"node\":" : "{\"node\":", f);
		cli_json_string(f, cli_str(p->node));
		fprintf(f, ",\"gpu_index\":%u,\"gpu_type\":", p->gpu_index);
		cli_json_string(f, cli_str(p->gpu_type));
		fprintf(f, ",\"tasks\":%u}", p->tasks);
	}
	fputc(']', f);
}

/* ,"key":[1,2] when n > 0 */
static void cli_json_ids(FILE *f, const char *key, const uint64_t *v, size_t n)
{
	if (n == 0)
		return;
	cli_json_key(f, key);
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	fputc(']', f);
}

static void cli_json_job(FILE *f, const Hare__JobInfo *j)
{
	fprintf(f, "{\"job_id\":%llu,\"user\":", (unsigned long long)j->job_id);
	cli_json_string(f, cli_str(j->user));
	cli_json_key(f, "name");
	cli_json_string(f, cli_str(j->name));
	cli_json_key(f, "model");
	cli_json_string(f, cli_str(j->model));
	if (j->proxy && j->proxy[0]) {
		cli_json_key(f, "proxy");
		cli_json_string(f, j->proxy);
	}
	if (j->command && j->command[0]) {
		cli_json_key(f, "command");
		cli_json_string(f, j->command);
	}
	fprintf(f, ",\"state\":\"%s\",\"tasks\":%u", cli_state_name(j->state), j->tasks);
	cli_json_opt_u(f, "min_gpus", j->has_min_gpus, j->min_gpus);
	cli_json_opt_u(f, "max_gpus", j->has_max_gpus, j->max_gpus);
	fprintf(f, ",\"rounds_total\":%llu,\"rounds_done\":%llu", (unsigned long long)j->rounds_total,
		(unsigned long long)j->rounds_done);
	cli_json_opt_d(f, "weight", true, j->weight);
	cli_json_placement(f, j);
	cli_json_opt_u(f, "order", j->has_order, j->order);
	cli_json_opt_d(f, "submit_time", j->has_submit_time, j->submit_time);
	cli_json_opt_d(f, "start_time", j->has_start_time, j->start_time);
	cli_json_opt_d(f, "finish_time", j->has_finish_time, j->finish_time);
	cli_json_opt_d(f, "est_start", j->has_est_start, j->est_start);
	cli_json_opt_d(f, "est_finish", j->has_est_finish, j->est_finish);
	cli_json_opt_u(f, "restarts", j->has_restarts, j->restarts);
	cli_json_key(f, "gpu_types");
	fputc('[', f);
	for (size_t i = 0; i < j->n_gpu_types; i++) {
		if (i)
			fputc(',', f);
		cli_json_string(f, cli_str(j->gpu_types[i]));
	}
	fputc(']', f);
	cli_json_opt_d(f, "loss", j->has_loss, j->loss);
	if (j->n_avoided_nodes > 0) {
		cli_json_key(f, "avoided_nodes");
		fputc('[', f);
		for (size_t i = 0; i < j->n_avoided_nodes; i++) {
			if (i)
				fputc(',', f);
			cli_json_string(f, cli_str(j->avoided_nodes[i]));
		}
		fputc(']', f);
	}
	if (cli_job_held(j)) {
		cli_json_key(f, "held");
		cli_json_string(f, cli_held_by(j));
	}
	cli_json_ids(f, "after", j->after, j->n_after);
	cli_json_ids(f, "after_pending", j->after_pending, j->n_after_pending);
	cli_json_ids(f, "after_any", j->after_any, j->n_after_any);
	cli_json_ids(f, "after_notok", j->after_notok, j->n_after_notok);
	if (j->waiting && j->waiting[0]) {
		cli_json_key(f, "waiting");
		cli_json_string(f, j->waiting);
	}
	if (j->end_reason && j->end_reason[0]) {
		cli_json_key(f, "end_reason");
		cli_json_string(f, j->end_reason);
	}
	if (j->last_error && j->last_error[0]) {
		cli_json_key(f, "last_error");
		cli_json_string(f, j->last_error);
		cli_json_opt_d(f, "last_error_time", j->has_last_error_time, j->last_error_time);
	}
	if (j->n_gpu_time > 0) {
		cli_json_key(f, "gpu_seconds");
		cli_json_gpu_times(f, j->gpu_time, j->n_gpu_time);
	}
	fputc('}', f);
}

void cli_job_print_json(FILE *f, const Hare__JobInfo *j)
{
	cli_json_job(f, j);
	fputc('\n', f);
}

void cli_wait_print(FILE *f, const Hare__JobInfo *j, bool json)
{
	const char *why = j->state == HARE__JOB_STATE__CANCELLED ? j->end_reason :
			  j->state == HARE__JOB_STATE__FAILED ? j->last_error : NULL;
	char clean[512];

	if (json) {
		cli_job_print_json(f, j);
		return;
	}
	fprintf(f, "job %llu: %s", (unsigned long long)j->job_id, cli_state_name(j->state));
	if (why && why[0])
		fprintf(f, ": %s", cli_text_clean(why, clean, sizeof(clean)));
	fputc('\n', f);
}

void cli_queue_print_json(FILE *f, const Hare__QueueReply *q)
{
	fputs("{\"jobs\":[", f);
	for (size_t i = 0; i < q->n_jobs; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cli_json_job(f, q->jobs[i]);
	}
	fputs(q->n_jobs ? "\n]" : "]", f);
	cli_json_opt_d(f, "lp_bound_s", q->has_lp_bound_s, q->lp_bound_s);
	cli_json_opt_u(f, "plans", q->has_plans, q->plans);
	cli_json_opt_d(f, "plan_p50_ms", q->has_plan_p50_ms, q->plan_p50_ms);
	cli_json_opt_d(f, "plan_p99_ms", q->has_plan_p99_ms, q->plan_p99_ms);
	cli_json_opt_u(f, "cut_jobs", q->has_cut_jobs, q->cut_jobs);
	fputs("}\n", f);
}

static void cli_json_node(FILE *f, const Hare__NodeInfo *node)
{
	fputs("{\"name\":", f);
	cli_json_string(f, cli_str(node->name));
	fprintf(f, ",\"up\":%s,\"drained\":%s", node->up ? "true" : "false",
		node->drained ? "true" : "false");
	if (node->drained && node->drain_reason && node->drain_reason[0]) {
		cli_json_key(f, "drain_reason");
		cli_json_string(f, node->drain_reason);
	}
	if (node->unhealthy && node->unhealthy[0]) {
		cli_json_key(f, "unhealthy");
		cli_json_string(f, node->unhealthy);
		cli_json_opt_d(f, "unhealthy_since", node->has_unhealthy_since,
			       node->unhealthy_since);
	}
	cli_json_opt_d(f, "last_seen", node->has_last_seen, node->last_seen);
	cli_json_opt_u(f, "recent_failures", node->has_recent_failures, node->recent_failures);
	if (node->has_own_key)
		fprintf(f, ",\"own_key\":%s", node->own_key ? "true" : "false");
	if (node->has_tagged)
		fprintf(f, ",\"tagged\":%s", node->tagged ? "true" : "false");
	if (node->has_tls)
		fprintf(f, ",\"tls\":%s", node->tls ? "true" : "false");
	if (node->has_gpus_isolated)
		fprintf(f, ",\"gpus_isolated\":%s", node->gpus_isolated ? "true" : "false");
	if (node->refused && node->refused[0]) {
		cli_json_key(f, "refused");
		cli_json_string(f, node->refused);
		cli_json_opt_d(f, "refused_at", node->has_refused_at, node->refused_at);
	}
	fputs(",\"gpus\":[", f);
	for (size_t g = 0; g < node->n_gpus; g++) {
		const Hare__NodeGpu *gpu = node->gpus[g];

		fprintf(f, "%s{\"index\":%u,\"type\":", g ? "," : "", gpu->index);
		cli_json_string(f, cli_str(gpu->type));
		fprintf(f, ",\"job_id\":%llu,\"emulated\":%s,\"stopping\":%s,\"unprofiled\":%s,"
			"\"measuring\":%s}",
			(unsigned long long)(gpu->has_job_id ? gpu->job_id : 0),
			gpu->has_emulated && gpu->emulated ? "true" : "false",
			gpu->stopping ? "true" : "false", gpu->unprofiled ? "true" : "false",
			gpu->measuring ? "true" : "false");
	}
	fputs("]}", f);
}

void cli_nodes_print_json(FILE *f, const Hare__NodesReply *n)
{
	fputs("{\"nodes\":[", f);
	for (size_t i = 0; i < n->n_nodes; i++) {
		fputs(i ? ",\n  " : "\n  ", f);
		cli_json_node(f, n->nodes[i]);
	}
	fputs(n->n_nodes ? "\n]}\n" : "]}\n", f);
}
