/* SPDX-License-Identifier: MIT */
/* The scheduling driver's core: the table of active jobs, their perf from
 * the profile, job completion and cancellation, and the life cycle of the
 * driver itself (leases: driver_lease.c; plans: driver_plan.c). */
#include "driver_impl.h"

#include "err.h"
#include "log.h"
#include "profile.h"
#include "text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

double driver_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int drv_speed_loaded(void *user, const char *model, const char *gpu_type, double ratio,
			    double rounds)
{
	struct driver *d = user;
	int m = profile_model_find(d->prof, model), t = profile_gpu_type_find(d->prof, gpu_type);

	if (m < 0 || t < 0 || (uint32_t)t >= d->ntypes || !(ratio > 0.05 && ratio < 20) ||
	    !isfinite(rounds))
		return 0;	/* a model or type no longer profiled: forget it */
	d->ratio[(size_t)m * d->ntypes + (size_t)t] = ratio;
	d->ratio_rounds[(size_t)m * d->ntypes + (size_t)t] = rounds;
	return 0;
}

static int drv_tables_init(struct driver *d)
{
	size_t n;

	d->ntypes = profile_gpu_type_count(d->prof);
	if (d->ntypes > SCHED_MAX_TYPES)
		d->ntypes = SCHED_MAX_TYPES;
	for (uint32_t t = 0; t < d->ntypes; t++)
		snprintf(d->type_names[t], SCHED_TYPE_NAME, "%s", profile_gpu_type_name(d->prof, t));
	d->nmodels = profile_model_count(d->prof);
	n = (size_t)(d->nmodels ? d->nmodels : 1) * (d->ntypes ? d->ntypes : 1);
	d->ratio = malloc(n * sizeof(double));
	d->ratio_rounds = calloc(n, sizeof(double));
	d->ratio_dirty = calloc(n, sizeof(bool));
	if (!d->ratio || !d->ratio_rounds || !d->ratio_dirty)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		d->ratio[i] = 1.0;
	if (d->st)
		store_speeds_load(d->st, drv_speed_loaded, d);
	return 0;
}

/* The learned ratios re-laid for nt types (new types start at 1). */
static int drv_tables_widen(struct driver *d, uint32_t nt)
{
	size_t n = (size_t)(d->nmodels ? d->nmodels : 1) * nt;
	double *ratio = malloc(n * sizeof(double)), *rounds = calloc(n, sizeof(double));
	bool *dirty = calloc(n, sizeof(bool));

	if (!ratio || !rounds || !dirty) {
		free(ratio);
		free(rounds);
		free(dirty);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		ratio[i] = 1.0;
	for (uint32_t m = 0; m < d->nmodels; m++) {
		for (uint32_t t = 0; t < d->ntypes; t++) {
			size_t from = (size_t)m * d->ntypes + t, to = (size_t)m * nt + t;

			ratio[to] = d->ratio[from];
			rounds[to] = d->ratio_rounds[from];
			dirty[to] = d->ratio_dirty[from];
		}
	}
	free(d->ratio);
	free(d->ratio_rounds);
	free(d->ratio_dirty);
	d->ratio = ratio;
	d->ratio_rounds = rounds;
	d->ratio_dirty = dirty;
	return 0;
}

int driver_profile_check(const struct driver *d, const struct profile *prof, char *errbuf,
			 size_t errlen)
{
	uint32_t nt = profile_gpu_type_count(prof);

	if (nt > SCHED_MAX_TYPES) {
		snprintf(errbuf, errlen, "more than %d GPU types", SCHED_MAX_TYPES);
		return -E2BIG;
	}
	if (profile_model_count(prof) != d->nmodels || nt < d->ntypes) {
		snprintf(errbuf, errlen, "the profile's models or GPU types changed on disk");
		return -ESTALE;
	}
	for (uint32_t m = 0; m < d->nmodels; m++)
		if (strcmp(profile_model_name(prof, m), profile_model_name(d->prof, m)) != 0) {
			snprintf(errbuf, errlen, "the profile's models changed on disk");
			return -ESTALE;
		}
	for (uint32_t t = 0; t < d->ntypes; t++)
		if (strcmp(profile_gpu_type_name(prof, t), d->type_names[t]) != 0) {
			snprintf(errbuf, errlen, "the profile's GPU types changed on disk");
			return -ESTALE;
		}
	return 0;
}

void driver_node_measuring(struct driver *d, uint32_t agent_id, const char *type, bool on)
{
	struct drv_node *n = agent_id && agent_id <= d->nnodes ? &d->nodes[agent_id - 1] : NULL;
	bool freed = false;

	for (uint32_t g = 0; n && g < n->ngpus; g++) {
		if (n->gpus[g].type_cut || strcasecmp(n->gpus[g].type_name, type) != 0)
			continue;
		freed |= n->gpus[g].measuring && !on;
		n->gpus[g].measuring = on;
	}
	if (freed)
		driver_replan_request(d);
}

int driver_profile_set(struct driver *d, const struct profile *prof, char *errbuf, size_t errlen)
{
	uint32_t nt = profile_gpu_type_count(prof), old = d->ntypes;
	int rc = driver_profile_check(d, prof, errbuf, errlen);

	if (rc < 0)
		return rc;
	rc = drv_tables_widen(d, nt);
	if (rc < 0) {
		snprintf(errbuf, errlen, "out of memory");
		return rc;
	}
	d->prof = prof;
	d->ntypes = nt;
	for (uint32_t t = old; t < nt; t++)
		snprintf(d->type_names[t], SCHED_TYPE_NAME, "%s", profile_gpu_type_name(prof, t));
	for (uint32_t i = 0; i < d->njobs; i++) {
		struct drv_job *j = d->jobs[i];
		struct sched_perf perf;
		uint32_t model;
		char why[256];

		/* new types only add compute times (their sync times do not
		 * raise the shipped ones'): this cannot fail where it passed */
		if (driver_perf_fill(prof, &j->rec, &model, &perf, why, sizeof(why)) == 0) {
			j->perf_prof = perf;
			driver_job_perf_scale(d, j);
		}
	}
	for (uint32_t k = 0; k < d->nnodes; k++) {
		struct drv_node *n = &d->nodes[k];

		for (uint32_t g = 0; g < n->ngpus; g++) {
			int t = n->gpus[g].type < 0 && !n->gpus[g].type_cut ?
				profile_gpu_type_find(prof, n->gpus[g].type_name) : -1;

			if (t >= 0 && (uint32_t)t >= old) {
				n->gpus[g].type = t;
				snprintf(n->gpus[g].type_name, sizeof(n->gpus[g].type_name), "%s",
					 d->type_names[t]);
			}
		}
	}
	driver_replan_request(d);
	return 0;
}

static void drv_policy_error(const char *name, int rc, char *errbuf, size_t errlen)
{
	const char *const *names = sched_policy_names();
	size_t off;

	if (rc != ERR_UNKNOWN_POLICY) {
		snprintf(errbuf, errlen, "policy %s: %s", name, err_str(rc));
		return;
	}
	off = (size_t)snprintf(errbuf, errlen, "unknown policy '%s' (known:", name);
	for (size_t i = 0; names[i] && off < errlen; i++)
		off += (size_t)snprintf(errbuf + off, errlen - off, " %s", names[i]);
	if (off < errlen)
		snprintf(errbuf + off, errlen - off, ")");
}

int driver_new(uv_loop_t *loop, const struct driver_opts *o, const struct profile *prof,
	       struct store *st, driver_send_cb send, void *send_user, struct driver **out,
	       char *errbuf, size_t errlen)
{
	struct sched_options so;
	struct driver *d = calloc(1, sizeof(*d));
	int rc;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->o = *o;
	snprintf(d->policy_name, sizeof(d->policy_name), "%s", o->policy ? o->policy : "hare");
	d->o.policy = d->policy_name;
	if (!(d->o.time_scale > 0))
		d->o.time_scale = 1;
	d->prof = prof;
	d->st = st;
	d->send = send;
	d->send_user = send_user;
	sched_options_default(&so);
	if (d->o.min_lease_s >= 0)
		so.min_lease_s = d->o.min_lease_s;
	so.min_lease_s /= d->o.time_scale;	/* plans run in wall seconds */
	if (d->o.type_slack >= 0)
		so.type_slack = d->o.type_slack;
	rc = sched_policy_new(d->policy_name, &so, &d->policy);
	if (rc < 0) {
		drv_policy_error(d->policy_name, rc, errbuf, errlen);
		free(d);
		return rc;
	}
	rc = drv_tables_init(d);
	if (rc < 0) {
		snprintf(errbuf, errlen, "out of memory");
		d->closing = true;
		driver_free(d);
		return rc;
	}
	d->started_at = driver_now();
	driver_nodes_load(d);
	d->next_lease = (uint64_t)(driver_now() * 1e6);
	uv_timer_init(loop, &d->debounce);
	uv_timer_init(loop, &d->replan_at);
	uv_timer_init(loop, &d->grace_timer);
	uv_timer_init(loop, &d->deadline_timer);
	d->debounce.data = d->replan_at.data = d->grace_timer.data = d->deadline_timer.data = d;
	*out = d;
	return 0;
}

void driver_opts_get(const struct driver *d, struct driver_opts *o)
{
	*o = d->o;
}

void driver_opts_set(struct driver *d, const struct driver_opts *o)
{
	struct driver_opts keep = d->o;

	d->o = *o;
	d->o.policy = keep.policy;
	d->o.time_scale = keep.time_scale;
	d->o.type_slack = keep.type_slack;
	d->o.min_lease_s = keep.min_lease_s;
}

void driver_close(struct driver *d)
{
	if (!d || d->closing)
		return;
	d->closing = true;
	uv_close((uv_handle_t *)&d->debounce, NULL);
	uv_close((uv_handle_t *)&d->replan_at, NULL);
	uv_close((uv_handle_t *)&d->grace_timer, NULL);
	uv_close((uv_handle_t *)&d->deadline_timer, NULL);
}

static void drv_job_free(struct drv_job *j)
{
	if (!j)
		return;
	free(j->lease.ranks);
	free(j->adopt);
	free(j->pend);
	free(j);
}

void driver_free(struct driver *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->njobs; i++)
		drv_job_free(d->jobs[i]);
	for (uint32_t i = 0; i < d->nnodes; i++)
		free(d->nodes[i].gpus);
	free(d->jobs);
	free(d->nodes);
	free(d->forget);
	free(d->dirty);
	free(d->ratio);
	free(d->ratio_rounds);
	free(d->ratio_dirty);
	driver_after_free(d);
	sched_policy_free(d->policy);
	free(d);
}

/* ---- the job table (ascending ids; ids grow, so inserts append) ---- */

int driver_job_index(const struct driver *d, uint64_t id)
{
	uint32_t lo = 0, hi = d->njobs;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (d->jobs[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < d->njobs && d->jobs[lo]->rec.id == id ? (int)lo : -1;
}

struct drv_job *driver_job_get(struct driver *d, uint64_t id)
{
	int i = driver_job_index(d, id);

	return i < 0 ? NULL : d->jobs[i];
}

const struct drv_job *driver_job_find(const struct driver *d, uint64_t id)
{
	int i = driver_job_index(d, id);

	return i < 0 ? NULL : d->jobs[i];
}

uint32_t driver_job_count(const struct driver *d)
{
	return d->njobs;
}

const struct drv_job *driver_job_at(const struct driver *d, uint32_t i)
{
	return i < d->njobs ? d->jobs[i] : NULL;
}

static int drv_jobs_insert(struct driver *d, struct drv_job *j)
{
	uint32_t pos = d->njobs;

	if (d->njobs == d->jobs_cap) {
		uint32_t cap = d->jobs_cap ? d->jobs_cap * 2 : 64;
		struct drv_job **a = realloc(d->jobs, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		d->jobs = a;
		d->jobs_cap = cap;
	}
	if (driver_job_index(d, j->rec.id) >= 0)
		return -EEXIST;
	while (pos > 0 && d->jobs[pos - 1]->rec.id > j->rec.id)
		pos--;
	memmove(&d->jobs[pos + 1], &d->jobs[pos], (d->njobs - pos) * sizeof(*d->jobs));
	d->jobs[pos] = j;
	d->njobs++;
	return 0;
}

static void drv_jobs_remove(struct driver *d, uint64_t id)
{
	int i = driver_job_index(d, id);

	if (i < 0)
		return;
	memmove(&d->jobs[i], &d->jobs[i + 1], (d->njobs - (uint32_t)i - 1) * sizeof(*d->jobs));
	d->njobs--;
}

/* ---- perf ---- */

/* "known: a, b, c" of the profile's models or GPU types, after "did you
 * mean X? " when one is within two edits of what was asked for. */
static void drv_names_list(const struct profile *p, bool models, const char *asked, char *buf,
			   size_t len)
{
	uint32_t n = models ? profile_model_count(p) : profile_gpu_type_count(p);
	const char *best = NULL;
	size_t off = 0, best_d = 3;

	for (uint32_t i = 0; i < n; i++) {
		const char *name = models ? profile_model_name(p, i) : profile_gpu_type_name(p, i);
		size_t d = text_distance(asked, name);

		if (d < best_d) {
			best_d = d;
			best = name;
		}
	}
	buf[0] = '\0';
	if (best)
		off = (size_t)snprintf(buf, len, "did you mean %s? ", best);
	if (off < len)
		off += (size_t)snprintf(buf + off, len - off, "known: ");
	for (uint32_t i = 0; i < n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
					models ? profile_model_name(p, i) : profile_gpu_type_name(p, i));
}

/* Zero the compute time of every type the job does not allow. */
static int drv_perf_restrict(const struct profile *prof, const struct store_job *job,
			     struct sched_perf *perf, uint32_t ntypes, char *errbuf, size_t errlen)
{
	bool allowed[SCHED_MAX_TYPES] = { false };
	char known[256];

	if (job->ntypes == 0)
		return 0;
	for (uint32_t i = 0; i < job->ntypes && i < STORE_MAX_TYPES; i++) {
		int t = profile_gpu_type_find(prof, job->types[i]);

		if (t < 0 || (uint32_t)t >= ntypes) {
			drv_names_list(prof, false, job->types[i], known, sizeof(known));
			snprintf(errbuf, errlen, "unknown GPU type '%s' (%s)", job->types[i], known);
			return ERR_UNKNOWN_GPU;
		}
		allowed[t] = true;
	}
	for (uint32_t t = 0; t < ntypes; t++)
		if (!allowed[t])
			perf->compute_s[t] = 0;
	return 0;
}

int driver_perf_fill(const struct profile *prof, const struct store_job *job, uint32_t *model,
		     struct sched_perf *perf, char *errbuf, size_t errlen)
{
	const char *names[SCHED_MAX_TYPES];
	uint32_t ntypes = profile_gpu_type_count(prof);
	char known[512];
	int m, rc;

	m = profile_model_find(prof, job->model);
	if (m < 0) {
		drv_names_list(prof, true, job->model, known, sizeof(known));
		snprintf(errbuf, errlen, "unknown model '%s' (%s)", job->model, known);
		return ERR_UNKNOWN_MODEL;
	}
	if (ntypes > SCHED_MAX_TYPES)
		ntypes = SCHED_MAX_TYPES;
	for (uint32_t t = 0; t < ntypes; t++)
		names[t] = profile_gpu_type_name(prof, t);
	rc = profile_perf_fill(prof, (uint32_t)m, names, ntypes, perf, errbuf, errlen);
	if (rc == 0)
		rc = drv_perf_restrict(prof, job, perf, ntypes, errbuf, errlen);
	if (rc < 0)
		return rc;
	if (!(sched_perf_fastest(perf, ntypes) > 0)) {
		snprintf(errbuf, errlen, "model '%s' has no profile on any allowed GPU type",
			 job->model);
		return ERR_NO_CAPACITY;
	}
	*model = (uint32_t)m;
	return 0;
}

/* Plans run in wall seconds with the learned speeds: perf = perf_prof x
 * ratio / time_scale. */
void driver_job_perf_scale(struct driver *d, struct drv_job *j)
{
	double ts = d->o.time_scale;

	j->perf = j->perf_prof;
	for (uint32_t t = 0; t < d->ntypes; t++)
		j->perf.compute_s[t] *= d->ratio[(size_t)j->model * d->ntypes + t] / ts;
	for (uint32_t i = 0; i < SCHED_SYNC_POINTS; i++) {
		j->perf.sync_s[i][0] /= ts;
		j->perf.sync_s[i][1] /= ts;
	}
	j->perf.restart_s /= ts;
}

static struct drv_job *drv_job_new(struct driver *d, const struct store_job *rec, char *errbuf,
				   size_t errlen, int *rc)
{
	struct drv_job *j = calloc(1, sizeof(*j));

	if (!j) {
		*rc = -ENOMEM;
		return NULL;
	}
	j->rec = *rec;
	*rc = driver_perf_fill(d->prof, rec, &j->model, &j->perf_prof, errbuf, errlen);
	if (*rc < 0) {
		free(j);
		return NULL;
	}
	if (j->rec.min_gpus == 0)
		j->rec.min_gpus = 1;
	if (j->rec.max_gpus == 0 || j->rec.max_gpus > j->rec.tasks)
		j->rec.max_gpus = j->rec.tasks;
	j->order = UINT32_MAX;
	j->adopt_first = UINT64_MAX;
	j->adopt_loss = NAN;
	speed_model_init(&j->speed, 0);
	driver_job_perf_scale(d, j);
	return j;
}

int driver_job_load(struct driver *d, const struct store_job *rec)
{
	char why[256];
	struct drv_job *j;
	int rc;

	if (rec->state != STORE_QUEUED && rec->state != STORE_RUNNING)
		return 0;
	j = drv_job_new(d, rec, why, sizeof(why), &rc);
	if (!j && rc == -ENOMEM)
		return rc;
	if (!j) {
		/* The profile changed under a stored job: it can never run. */
		log_warn("job=%" PRIu64 " cannot be scheduled any more: %s; marking it FAILED",
			 rec->id, why);
		d->ended[STORE_FAILED - STORE_DONE]++;
		if (d->st) {
			store_job_state(d->st, rec->id, STORE_FAILED, driver_now());
			store_event(d->st, driver_now(), rec->id, "fail", why);
		}
		return 0;
	}
	j->adopt_wait = rec->state == STORE_RUNNING;
	if (j->adopt_wait && d->st && store_job_last_lease(d->st, rec->id, &j->run_lease) < 0)
		j->run_lease = 0;
	/* its failures so far count against max_retries across restarts */
	if (d->st && store_job_failures(d->st, rec->id, &j->failures) < 0)
		j->failures = 0;
	/* the GPU time it had, but for the lease it may adopt (counted when
	 * that ends) */
	driver_attained_load(d, j, j->adopt_wait ? j->run_lease : 0);
	rc = drv_jobs_insert(d, j);
	if (rc < 0) {
		drv_job_free(j);
		return rc == -EEXIST ? 0 : rc;
	}
	/* the jobs it runs after have smaller ids: loaded already, or ended
	 * (a broken dependency is cancelled by driver_start) */
	driver_after_resolve(d, j, true);
	return 0;
}

int driver_job_add(struct driver *d, const struct store_job *rec, char *errbuf, size_t errlen)
{
	struct drv_job *j;
	char detail[160];
	int rc;

	j = drv_job_new(d, rec, errbuf, errlen, &rc);
	if (j) {
		j->rec.state = STORE_QUEUED;
		rc = drv_jobs_insert(d, j);
		if (rc < 0) {
			drv_job_free(j);
			snprintf(errbuf, errlen, "%s", strerror(-rc));
		}
	}
	if (rc < 0) {
		/* stored QUEUED, but it would run only after a restart (and
		 * pass for a job that will run, to a later job's after):
		 * FAILED now, with the reason */
		d->ended[STORE_FAILED - STORE_DONE]++;
		if (d->st) {
			char why[300];

			snprintf(why, sizeof(why), "hared could not schedule it: %s", errbuf);
			if (!d->ends_unsaved) {
				d->ends_failures = store_write_failures(d->st, NULL);
				d->ends_unsaved = true;
			}
			store_job_state(d->st, rec->id, STORE_FAILED, driver_now());
			store_event(d->st, driver_now(), rec->id, "fail", why);
		}
		return rc;
	}
	driver_after_resolve(d, j, false);
	snprintf(detail, sizeof(detail), "user=%s model=%s tasks=%u rounds=%" PRIu64 " weight=%g",
		 rec->user, rec->model, rec->tasks, rec->rounds_total, rec->weight);
	if (d->st)
		store_event(d->st, driver_now(), rec->id, "submit", detail);
	log_info("job=%" PRIu64 " submitted %s", rec->id, detail);
	/* a job it runs after ended between the submit's check and its commit */
	driver_after_cancel(d);
	driver_replan_request(d);
	return 0;
}

/* ---- job ends ---- */

static const char *drv_state_kind(enum store_job_state s)
{
	switch (s) {
	case STORE_DONE:
		return "done";
	case STORE_CANCELLED:
		return "cancel";
	case STORE_FAILED:
		return "fail";
	default:
		return "state";
	}
}

static void drv_forget(struct driver *d, uint64_t id)
{
	if (!d->inflight) {
		sched_policy_forget(d->policy, (uint32_t)id);
		return;
	}
	if (d->nforget == d->forget_cap) {
		uint32_t cap = d->forget_cap ? d->forget_cap * 2 : 16;
		uint32_t *f = realloc(d->forget, cap * sizeof(*f));

		if (!f)
			return;	/* the policy keeps a little state for a gone job */
		d->forget = f;
		d->forget_cap = cap;
	}
	d->forget[d->nforget++] = (uint32_t)id;
}

void driver_job_finish(struct driver *d, struct drv_job *j, enum store_job_state state,
		       const char *why)
{
	double now = driver_now();
	uint64_t id;

	if (state == STORE_DONE) {
		/* its workers end on their own (a researcher's program may save
		 * its model first); their GPUs wait for that */
		drv_lease_vacate(d, j, now + d->o.finish_grace_s);
		drv_lease_release(d, j);
	} else
		driver_lease_stop(d, j, why);
	driver_adopt_stop(d, j, why);
	driver_adopt_drop(d, j);
	driver_pend_drop(d, j);
	j->rec.state = state;
	j->rec.finish_time = now;
	if (state >= STORE_DONE && state <= STORE_FAILED)
		d->ended[state - STORE_DONE]++;
	if (d->st) {
		/* an end is on disk by the end of this loop iteration
		 * (driver_ends_commit): after a crash a job that is DONE must
		 * not run its last rounds again; a cancel's commit is its
		 * caller's, before the reply */
		if (state != STORE_CANCELLED && !d->ends_unsaved) {
			d->ends_failures = store_write_failures(d->st, NULL);
			d->ends_unsaved = true;
		}
		store_job_progress(d->st, j->rec.id, j->rec.rounds_done, j->rec.loss);
		store_job_state(d->st, j->rec.id, state, now);
		store_event(d->st, now, j->rec.id, drv_state_kind(state), why);
	}
	log_at(state == STORE_FAILED ? LOG_LVL_WARN : LOG_LVL_INFO,
	       "job=%" PRIu64 " %s rounds=%" PRIu64 "/%" PRIu64 " restarts=%u: %s", j->rec.id,
	       drv_state_kind(state), j->rec.rounds_done, j->rec.rounds_total, j->rec.restarts, why);
	id = j->rec.id;
	driver_after_forget(d, j);
	drv_jobs_remove(d, id);
	drv_forget(d, id);
	drv_job_free(j);
	if (state == STORE_DONE)
		driver_after_done(d, id);	/* once its workers have exited */
	else
		driver_after_ended(d, id, state);
	driver_after_cancel(d);
	driver_replan_request(d);
}

void driver_ends_commit(struct driver *d)
{
	if (!d->ends_unsaved)
		return;
	d->ends_unsaved = false;
	if (d->st && store_flush_since(d->st, d->ends_failures) < 0)
		log_error("the end of a job could not be saved; after a daemon crash it would run "
			  "again from its last saved round");
}

struct drv_job *driver_job_mine(struct driver *d, uint64_t id, const char *user, bool admin,
				const char *verb, int *rc, char *msg, size_t msglen)
{
	struct drv_job *j = driver_job_get(d, id);

	*rc = 0;
	if (!j) {
		snprintf(msg, msglen, "job %" PRIu64 " is not queued or running", id);
		*rc = -ENOENT;
	} else if (!admin && strcmp(j->rec.user, user) != 0) {
		snprintf(msg, msglen, "job %" PRIu64 " belongs to %s; only its owner or root may "
			 "%s it", id, j->rec.user, verb);
		*rc = -EPERM;
		j = NULL;
	}
	return j;
}

int driver_job_cancel(struct driver *d, uint64_t id, const char *user, bool admin, char *msg,
		      size_t msglen)
{
	char why[128];
	int rc;
	struct drv_job *j = driver_job_mine(d, id, user, admin, "cancel", &rc, msg, msglen);
	uint64_t before = d->ended[STORE_CANCELLED - STORE_DONE], after;

	if (!j)
		return rc;
	snprintf(why, sizeof(why), "cancelled by %s", user);
	driver_job_finish(d, j, STORE_CANCELLED, why);
	/* the jobs that ran after it went with it */
	after = d->ended[STORE_CANCELLED - STORE_DONE] - before - 1;
	if (after)
		snprintf(msg, msglen, "job %" PRIu64 " cancelled, and %" PRIu64 " job%s after it",
			 id, after, after == 1 ? "" : "s");
	else
		snprintf(msg, msglen, "job %" PRIu64 " cancelled", id);
	return 0;
}
