/* SPDX-License-Identifier: MIT */
/* The synthetic workload generator: spec parsing and job drawing (sizes,
 * durations, models, weights, Poisson arrivals at a chosen offered load). */
#include "workload.h"

#include "cluster.h"
#include "err.h"
#include "profile.h"
#include "rng.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_ITEM_MAX 64

/* Job sizes (tasks per round) and their probabilities, Philly-like. */
static const uint32_t gen_sizes[] = { 1, 2, 4, 8 };
static const double gen_size_cdf[] = { 0.70, 0.80, 0.95, 1.0 };
static const double gen_weights[] = { 1, 2, 4, 8 };
/* Durations: 10^U(lo,hi) minutes on one V100 per task. */
#define GEN_LONG_FRACTION 0.2
#define GEN_SHORT_LO 1.5
#define GEN_SHORT_HI 3.0
#define GEN_LONG_LO 3.0
#define GEN_LONG_HI 4.0

/* Copy at most 40 characters of user text for a message, control
 * characters replaced, so the message stays one printable line. */
static const char *gen_quote(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	for (; *s && n + 1 < len && n < 40; s++)
		buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	buf[n] = '\0';
	return buf;
}

static int gen_fail(char *errbuf, size_t errlen, const char *key, const char *why, const char *val)
{
	char q[48];

	snprintf(errbuf, errlen, "%s: %s '%s'", key, why, gen_quote(val, q, sizeof(q)));
	return ERR_BAD_SPEC;
}

static int gen_parse_u64(const char *key, const char *val, uint64_t min, uint64_t max,
			 uint64_t *out, char *errbuf, size_t errlen)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)val[0]))
		return gen_fail(errbuf, errlen, key, "expected a whole number, got", val);
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || *end != '\0')
		return gen_fail(errbuf, errlen, key, "expected a whole number, got", val);
	if (v < min || v > max) {
		snprintf(errbuf, errlen, "%s: must be between %llu and %llu, got %llu", key,
			 (unsigned long long)min, (unsigned long long)max, v);
		return ERR_BAD_SPEC;
	}
	*out = v;
	return 0;
}

/* load (> 0, at most SIM_GEN_MAX_LOAD) or pipeline (0 to 1). */
static int gen_parse_fraction(const char *key, const char *val, double *out, char *errbuf,
			      size_t errlen)
{
	bool load = strcmp(key, "load") == 0;
	char *end;
	double v;

	errno = 0;
	v = strtod(val, &end);
	if (end == val || *end != '\0' || errno || !isfinite(v) || isspace((unsigned char)val[0]))
		return gen_fail(errbuf, errlen, key, "expected a number, got", val);
	if (load && (!(v > 0) || v > SIM_GEN_MAX_LOAD)) {
		snprintf(errbuf, errlen, "load: must be > 0 and <= %g, got %g", SIM_GEN_MAX_LOAD, v);
		return ERR_BAD_SPEC;
	}
	if (!load && !(v >= 0 && v <= 1)) {
		snprintf(errbuf, errlen, "pipeline: must be between 0 and 1, got %g", v);
		return ERR_BAD_SPEC;
	}
	*out = v;
	return 0;
}

/* Apply one "key=value" item; seen has bit 1 jobs, 2 seed, 4 load, 8
 * pipeline. */
static int gen_item_apply(const char *item, struct sim_gen_spec *out, unsigned *seen, char *errbuf,
			  size_t errlen)
{
	static const char *const keys[] = { "jobs", "seed", "load", "pipeline" };
	const char *eq = strchr(item, '=');
	char key[GEN_ITEM_MAX], q[48];
	uint64_t v;
	unsigned k;
	int rc;

	if (!eq) {
		snprintf(errbuf, errlen, "'%s': expected key=value", gen_quote(item, q, sizeof(q)));
		return ERR_BAD_SPEC;
	}
	snprintf(key, sizeof(key), "%.*s", (int)(eq - item), item);
	for (k = 0; k < 4 && strcmp(key, keys[k]) != 0; k++)
		;
	if (k == 4) {
		snprintf(errbuf, errlen, "%s: unknown key (expected jobs, seed, load, pipeline)",
			 gen_quote(key, q, sizeof(q)));
		return ERR_BAD_SPEC;
	}
	if (*seen & (1u << k)) {
		snprintf(errbuf, errlen, "%s: given twice", key);
		return ERR_BAD_SPEC;
	}
	*seen |= 1u << k;
	if (k >= 2)
		return gen_parse_fraction(key, eq + 1, k == 2 ? &out->load : &out->pipeline, errbuf,
					  errlen);
	rc = gen_parse_u64(key, eq + 1, k == 0 ? 1 : 0, k == 0 ? SIM_GEN_MAX_JOBS : UINT64_MAX, &v,
			   errbuf, errlen);
	if (rc == 0 && k == 0)
		out->jobs = (uint32_t)v;
	else if (rc == 0)
		out->seed = v;
	return rc;
}

int sim_gen_spec_parse(const char *text, struct sim_gen_spec *out, char *errbuf, size_t errlen)
{
	struct sim_gen_spec spec = { .load = 1.0 };
	unsigned seen = 0;
	const char *p = text;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[GEN_ITEM_MAX], q[48];
		int rc;

		if (len == 0) {
			snprintf(errbuf, errlen, "empty item in '%s' (expected jobs=N,seed=S[,load=L][,pipeline=P])",
				 gen_quote(text, q, sizeof(q)));
			return ERR_BAD_SPEC;
		}
		if (len >= sizeof(item)) {
			snprintf(errbuf, errlen, "item '%s...' too long", gen_quote(p, q, sizeof(q)));
			return ERR_BAD_SPEC;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		rc = gen_item_apply(item, &spec, &seen, errbuf, errlen);
		if (rc < 0)
			return rc;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (!(seen & 1) || !(seen & 2)) {
		snprintf(errbuf, errlen, "%s: missing (expected jobs=N,seed=S[,load=L][,pipeline=P])",
			 !(seen & 1) ? "jobs" : "seed");
		return ERR_BAD_SPEC;
	}
	*out = spec;
	return 0;
}

/* Per model: its perf on the cluster and its V100 reference numbers. */
struct gen_model {
	uint32_t model;
	uint32_t usable;		/* GPUs of the cluster it runs on */
	struct sched_perf perf;		/* on the cluster's types */
	struct sched_perf ref;		/* on the reference type alone */
};

/* Collect the models that run on the reference type and on some cluster type. */
static int gen_models_pick(const struct profile *prof, const struct sched_cluster *c,
			   struct gen_model *out, uint32_t *n, char *errbuf, size_t errlen)
{
	const char *names[SCHED_MAX_TYPES];
	const char *ref = profile_reference_type(prof);
	uint32_t type_gpus[SCHED_MAX_TYPES];
	int rc;

	for (uint32_t t = 0; t < c->ntypes; t++)
		names[t] = c->type_names[t];
	sim_type_gpus(c, type_gpus);
	*n = 0;
	for (uint32_t m = 0; m < profile_model_count(prof); m++) {
		struct gen_model *g = &out[*n];

		if (!(profile_reference_compute_s(prof, m) > 0))
			continue;
		g->model = m;
		rc = profile_perf_fill(prof, m, &ref, 1, &g->ref, errbuf, errlen);
		if (rc == 0)
			rc = profile_perf_fill(prof, m, names, c->ntypes, &g->perf, errbuf, errlen);
		if (rc < 0)
			return rc;
		g->usable = sim_usable_gpus(type_gpus, c->ntypes, &g->perf, 0);
		if (g->ref.compute_s[0] > 0 && g->usable > 0)
			(*n)++;
	}
	if (*n == 0) {
		snprintf(errbuf, errlen, "no model of the profile runs on both %s and a GPU type "
			 "of this cluster", ref ? ref : "the reference type");
		return ERR_NO_CAPACITY;
	}
	return 0;
}

static uint32_t gen_draw_size(struct sim_rng *r)
{
	double u = sim_rng_uniform(r);
	uint32_t i = 0;

	while (i + 1 < sizeof(gen_sizes) / sizeof(gen_sizes[0]) && u >= gen_size_cdf[i])
		i++;
	return gen_sizes[i];
}

/* Draw one job's attributes (fixed draw order: size, class, duration, model,
 * weight) and size it in rounds; returns its V100 GPU-seconds. */
static double gen_job_draw(struct sim_rng *r, const struct gen_model *models, uint32_t nmodels,
			   uint32_t id, struct sim_job *job)
{
	struct sched_job *j = &job->spec;
	uint32_t tasks = gen_draw_size(r);
	bool is_long = sim_rng_uniform(r) < GEN_LONG_FRACTION;
	double lo = is_long ? GEN_LONG_LO : GEN_SHORT_LO, hi = is_long ? GEN_LONG_HI : GEN_SHORT_HI;
	double minutes = pow(10.0, lo + (hi - lo) * sim_rng_uniform(r));
	const struct gen_model *m = &models[sim_rng_below(r, nmodels)];
	double round_ref = m->ref.compute_s[0] + sched_sync_time(&m->ref, tasks, false);
	double rounds = floor(minutes * 60.0 / round_ref + 0.5);

	memset(job, 0, sizeof(*job));
	j->weight = gen_weights[sim_rng_below(r, 4)];
	j->id = id;
	snprintf(j->name, sizeof(j->name), "job%u", id);
	j->tasks = tasks;
	j->min_gpus = 1;
	j->max_gpus = tasks < m->usable ? tasks : m->usable;	/* the importer's rule */
	j->rounds_total = rounds >= 1 && rounds < 1e15 ? (uint64_t)rounds : 1;
	j->perf = m->perf;
	j->first_start_s = -1;
	j->last_run_s = -1;
	job->model = m->model;
	return (double)tasks * (double)j->rounds_total * round_ref;
}

/* Poisson arrivals: the rate makes the jobs' V100 GPU-seconds arrive at
 * load x the cluster's GPUs; the first job arrives at 0. */
static void gen_arrivals(struct sim_rng *r, struct sim_workload *w, double work, double gpus,
			 double load)
{
	double rate = load * gpus * (double)w->njobs / work;
	double t = 0;

	for (uint32_t i = 0; i < w->njobs; i++) {
		if (i > 0)
			t += -log1p(-sim_rng_uniform(r)) / rate;
		w->jobs[i].spec.arrival_s = t;
	}
}

/* Pipelines: each job after the first, with probability p, runs after one
 * of the SIM_GEN_PIPELINE_BACK jobs before it. A stream of its own, so the
 * jobs themselves are those of the same spec without pipelines. */
static void gen_pipelines(uint64_t seed, double p, struct sim_workload *w)
{
	struct sim_rng r;

	sim_rng_seed(&r, seed ^ 0x706970656c696e65ull);	/* "pipeline" */
	for (uint32_t i = 1; i < w->njobs; i++) {
		uint32_t back = i < SIM_GEN_PIPELINE_BACK ? i : SIM_GEN_PIPELINE_BACK;

		if (sim_rng_uniform(&r) >= p)
			continue;
		w->jobs[i].nafter = 1;
		w->jobs[i].after[0] = i - 1 - (uint32_t)sim_rng_below(&r, back);
	}
}

/* The limits every workload keeps (SIM_MAX_SECONDS, SIM_MAX_WORK_S): a
 * load so small that the arrivals run past them, or a profile whose times
 * make a job's work too large, is the input's error. */
static int gen_check(const struct sim_gen_spec *spec, const struct sched_cluster *c,
		     const struct sim_workload *w, char *errbuf, size_t errlen)
{
	double last = w->jobs[w->njobs - 1].spec.arrival_s;
	char why[160];

	if (!(last <= SIM_MAX_SECONDS)) {
		snprintf(errbuf, errlen, "--generate: load: %g puts the last of %u arrivals at %.3g s, "
			 "past the limit of %g s; use a larger load", spec->load, w->njobs, last,
			 SIM_MAX_SECONDS);
		return ERR_BAD_SPEC;
	}
	for (uint32_t i = 0; i < w->njobs; i++) {
		const struct sched_job *j = &w->jobs[i].spec;

		if (sim_job_size_check(c, &j->perf, 0, j->tasks, (double)j->rounds_total, why,
				       sizeof(why)) < 0) {
			snprintf(errbuf, errlen, "--generate: job %u (%s): %s (the profile's times)",
				 i, sim_workload_model_name(w, i), why);
			return ERR_BAD_SPEC;
		}
	}
	return 0;
}

int sim_workload_models_init(struct sim_workload *w, const struct profile *prof)
{
	w->nmodels = profile_model_count(prof);
	w->model_names = calloc(w->nmodels ? w->nmodels : 1, sizeof(*w->model_names));
	if (!w->model_names)
		return -ENOMEM;
	for (uint32_t m = 0; m < w->nmodels; m++)
		snprintf(w->model_names[m], SIM_MODEL_NAME_LEN, "%s", profile_model_name(prof, m));
	return 0;
}

int sim_workload_generate(const struct sim_gen_spec *spec, const struct profile *prof,
			  const struct sim_cluster *c, struct sim_workload *out, char *errbuf,
			  size_t errlen)
{
	struct gen_model *models;
	struct sim_rng rng;
	uint32_t nmodels;
	double work = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (spec->jobs == 0 || spec->jobs > SIM_GEN_MAX_JOBS || !(spec->load > 0) ||
	    c->sched.ngpus == 0) {
		snprintf(errbuf, errlen, "generator: invalid spec or empty cluster");
		return -EINVAL;
	}
	models = calloc(profile_model_count(prof) + 1, sizeof(*models));
	out->jobs = calloc(spec->jobs, sizeof(*out->jobs));
	rc = models && out->jobs ? sim_workload_models_init(out, prof) : -ENOMEM;
	if (rc == 0)
		rc = gen_models_pick(prof, &c->sched, models, &nmodels, errbuf, errlen);
	if (rc == -ENOMEM)
		snprintf(errbuf, errlen, "generator: out of memory");
	if (rc == 0) {
		out->njobs = spec->jobs;
		sim_rng_seed(&rng, spec->seed);
		for (uint32_t i = 0; i < out->njobs; i++)
			work += gen_job_draw(&rng, models, nmodels, i, &out->jobs[i]);
		gen_arrivals(&rng, out, work, (double)c->sched.ngpus, spec->load);
		rc = gen_check(spec, &c->sched, out, errbuf, errlen);
	}
	if (rc == 0 && spec->pipeline > 0)
		gen_pipelines(spec->seed, spec->pipeline, out);
	free(models);
	if (rc < 0)
		sim_workload_destroy(out);
	return rc;
}

void sim_type_gpus(const struct sched_cluster *c, uint32_t *count)
{
	memset(count, 0, SCHED_MAX_TYPES * sizeof(*count));
	for (uint32_t g = 0; g < c->ngpus; g++)
		if (c->gpus[g].up && c->gpus[g].type < SCHED_MAX_TYPES)
			count[c->gpus[g].type]++;
}

uint32_t sim_usable_gpus(const uint32_t *type_gpus, uint32_t ntypes, const struct sched_perf *perf,
			 uint32_t mask)
{
	uint32_t n = 0;

	for (uint32_t t = 0; t < ntypes && t < SCHED_MAX_TYPES; t++)
		if ((!mask || (mask >> t & 1)) && perf->compute_s[t] > 0)
			n += type_gpus[t];
	return n;
}

int sim_job_size_check(const struct sched_cluster *c, const struct sched_perf *perf, uint32_t mask,
		       uint32_t tasks, double rounds, char *why, size_t len)
{
	uint32_t best = UINT32_MAX;
	double work, span;

	for (uint32_t t = 0; t < c->ntypes && t < SCHED_MAX_TYPES; t++)
		if ((!mask || (mask >> t & 1)) && perf->compute_s[t] > 0 &&
		    (best == UINT32_MAX || perf->compute_s[t] < perf->compute_s[best]))
			best = t;
	if (best == UINT32_MAX)
		return 0;	/* runs nowhere: the callers' own error */
	work = (double)tasks * rounds * perf->compute_s[best];
	span = rounds * (perf->compute_s[best] + sched_sync_time(perf, 1, false));
	if (work <= SIM_MAX_WORK_S && span <= SIM_MAX_WORK_S)
		return 0;
	if (work > SIM_MAX_WORK_S)
		snprintf(why, len, "%.4g rounds of %u tasks are %.3g GPU-seconds on %s, its fastest "
			 "GPU type here, more than %g", rounds, tasks, work, c->type_names[best],
			 SIM_MAX_WORK_S);
	else
		snprintf(why, len, "%.4g rounds take %.3g s on one %s, its fastest GPU type here, "
			 "more than %g", rounds, span, c->type_names[best], SIM_MAX_WORK_S);
	return -ERANGE;
}

void sim_workload_destroy(struct sim_workload *w)
{
	free(w->jobs);
	free(w->model_names);
	memset(w, 0, sizeof(*w));
}

const char *sim_workload_model_name(const struct sim_workload *w, uint32_t j)
{
	uint32_t m = w->jobs[j].model;

	return m < w->nmodels ? w->model_names[m] : "?";
}
