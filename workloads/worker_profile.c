/* SPDX-License-Identifier: MIT */
/* hare-worker --profile: the proxy model's step time at several batch sizes
 * and the all-reduce of its gradients on the GPUs present, printed as rows
 * of workloads/profiles/throughput.csv (comments say how each was made). */
#include "worker.h"

#include "worker_engine.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growth of multi-node sync per doubling of GPUs (PROVENANCE.md, section 4). */
#define PROFILE_SYNC_GROWTH 1.2313
#define PROFILE_MAX_WORKERS 128
#define PROFILE_WARMUP 3

struct profile_run {
	const struct worker_opts *o;
	const struct engine_ops *ops;
	struct proxy_spec spec;
	char type[16];
	char device[64];
	int ngpus;
	uint64_t nparams;
	double compute_s;	/* at the model's per-task batch */
	char err[512];
};

static int profile_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median step seconds of the model at batch b on one GPU. */
static int profile_step(struct profile_run *p, uint32_t batch, double *step_s)
{
	const struct worker_opts *o = p->o;
	struct proxy_spec s = p->spec;
	struct proxy_net net;
	struct engine_conf c = { .net = &net, .seed = o->seed, .rank = 0, .world_size = 1,
				 .tasks = 1, .job_tasks = 1, .device = o->device };
	double *t = calloc(o->profile_iters, sizeof(double));
	void *eng = NULL;
	int rc;

	s.batch = batch;
	rc = t ? proxy_net_build(&s, &net, p->err, sizeof(p->err)) : -ENOMEM;
	if (rc < 0) {
		free(t);
		return rc;
	}
	p->nparams = net.nparams;
	rc = p->ops->open(&c, &eng, p->err, sizeof(p->err));
	for (uint32_t i = 0; rc == 0 && i < PROFILE_WARMUP + o->profile_iters; i++) {
		struct engine_round rr;

		rc = p->ops->round_run(eng, i, false, &rr, p->err, sizeof(p->err));
		if (i >= PROFILE_WARMUP)
			t[i - PROFILE_WARMUP] = rr.compute_s;
	}
	if (eng)
		p->ops->close(eng);
	proxy_net_free(&net);
	if (rc == 0) {
		qsort(t, o->profile_iters, sizeof(double), profile_cmp);
		*step_s = t[o->profile_iters / 2];
	}
	free(t);
	return rc;
}

/* The profile type of a device name: a known GPU word in it ("NVIDIA H100
 * 80GB HBM3" -> H100), else the name made into a type name. */
static void profile_type_of(const char *device, char *type, size_t len)
{
	static const char *const known[] = { "K80", "M60", "P4", "P40", "P100", "V100", "T4", "A10",
		"A30", "A40", "A100", "L4", "L40S", "L40", "H100", "H200", "B200" };
	size_t o = 0;

	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		size_t n = strlen(known[k]);

		for (const char *s = strstr(device, known[k]); s; s = strstr(s + 1, known[k])) {
			bool start = s == device || s[-1] == ' ' || s[-1] == '-';
			bool end = s[n] == '\0' || s[n] == ' ' || s[n] == '-';

			if (start && end) {
				snprintf(type, len, "%s", known[k]);
				return;
			}
		}
	}
	for (const char *s = device; *s && o + 1 < len; s++) {
		char c = *s;

		type[o++] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '+' ? c : '-';
	}
	type[o] = '\0';
}

static int profile_batches(const struct profile_run *p, uint32_t *b)
{
	uint32_t base = p->spec.batch;
	int n = 0;

	if (p->o->profile_batches[0])
		n = worker_list_parse(p->o->profile_batches, 1u << 20, b, 31);
	else {
		static const double f[] = { 0.25, 0.5, 1, 2 };

		for (int i = 0; i < 4; i++) {
			uint32_t v = (uint32_t)fmax(1, floor(base * f[i]));

			if (n == 0 || b[n - 1] != v)
				b[n++] = v;
		}
	}
	for (int i = 0; i < n; i++)
		if (b[i] == base)
			return n;
	b[n++] = base;	/* the row's compute_s is at the per-task batch */
	return n;
}

static int profile_compute(struct profile_run *p)
{
	uint32_t b[32];
	int n = profile_batches(p, b);

	for (int i = 0; i < n; i++) {
		double step = 0;
		int rc = profile_step(p, b[i], &step);

		if (rc < 0)
			return rc;
		printf("# batch %u: step %.6f s, %.1f samples/s\n", b[i], step, b[i] / step);
		if (b[i] == p->spec.batch)
			p->compute_s = step;
	}
	return 0;
}

/* sync_s at each power of two 1..128, with its source tag. */
static void profile_sync(struct profile_run *p, double *sync, const char **tag)
{
	uint32_t want[32];
	int n = p->o->profile_workers[0] ? worker_list_parse(p->o->profile_workers, 1024, want, 32) : 0;
	double bytes = (double)p->nparams * 4, busbw = p->o->profile_busbw_gbs * 1e9;
	int last = -1;

	for (int i = 0, w = 1; w <= PROFILE_MAX_WORKERS; i++, w *= 2) {
		bool asked = n == 0;

		for (int k = 0; k < n; k++)
			asked |= want[k] == (uint32_t)w;
		sync[i] = 0;
		tag[i] = "measured/none";
		if (w == 1)
			continue;
		if (asked && w <= p->ngpus &&
		    p->ops->allreduce_time(p->nparams + 2, (uint32_t)w, p->o->profile_iters, &sync[i],
					   p->err, sizeof(p->err)) == 0) {
			tag[i] = "measured/nccl";
			last = i;
		} else if (last >= 1) {
			sync[i] = sync[i - 1] * PROFILE_SYNC_GROWTH;
			tag[i] = "measured/nccl-extrap";
		} else if (w <= 8) {
			sync[i] = 2.0 * (w - 1) / w * bytes / busbw;
			tag[i] = "measured/busbw-model";
		} else {
			sync[i] = sync[i - 1] * PROFILE_SYNC_GROWTH;
			tag[i] = "measured/busbw-extrap";
		}
	}
}

static void profile_print(struct profile_run *p)
{
	static const char *const placement[] = { "consolidated", "spread" };
	double sync[8];
	const char *tag[8];

	profile_sync(p, sync, tag);
	printf("# sync: all-reduce of %llu floats measured on up to %d GPU(s); beyond, x%.4f per "
	       "doubling; without 2 GPUs, a ring at %g GB/s; spread rows repeat the one-node values\n",
	       (unsigned long long)p->nparams + 2, p->ngpus, PROFILE_SYNC_GROWTH,
	       p->o->profile_busbw_gbs);
	for (int i = 0, w = 1; w <= PROFILE_MAX_WORKERS; i++, w *= 2)
		for (int k = 0; k < 2; k++)
			printf("%s,%s,%d,%s,%.6g,%.6g,%s\n", p->spec.model, p->type, w, placement[k],
			       p->compute_s, sync[i], tag[i]);
}

int worker_profile_run(const struct worker_opts *o)
{
	struct profile_run p = { .o = o };
	char spec[512];
	int rc = 0;

	if (proxy_spec_default(o->model, &p.spec, p.err, sizeof(p.err)) < 0 ||
	    (o->proxy[0] && proxy_spec_apply(&p.spec, o->proxy, p.err, sizeof(p.err)) < 0))
		rc = -EINVAL;
	if (rc == 0 && strcmp(o->engine, "cpu") == 0)
		p.ops = worker_engine_cpu();
	else if (rc == 0)
		rc = worker_engine_cuda_load(o->lib, &p.ops, p.err, sizeof(p.err));
	if (rc == 0)
		rc = p.ngpus = p.ops->devices(p.device, sizeof(p.device), p.err, sizeof(p.err));
	if (rc >= 0) {
		if (strcmp(o->gpu_type, "unknown") != 0)
			snprintf(p.type, sizeof(p.type), "%.15s", o->gpu_type);
		else
			profile_type_of(p.device, p.type, sizeof(p.type));
		proxy_spec_format(&p.spec, spec, sizeof(spec));
		printf("# hare-worker --profile: model %s (proxy %s) on %d x %s as type %s\n",
		       p.spec.model, spec, p.ngpus, p.device, p.type);
		rc = profile_compute(&p);
	}
	if (rc < 0) {
		fprintf(stderr, "hare-worker: --profile: %s\n", p.err);
		return WORKER_EXIT_FAILED;
	}
	profile_print(&p);
	return WORKER_EXIT_OK;
}
