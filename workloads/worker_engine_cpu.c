/* SPDX-License-Identifier: MIT */
/* The CPU engine: the float64 reference run as a one-rank training engine
 * (wall-clock times, no all-reduce). For tests and tiny models. Parameters
 * and momentum are stored as float32 values, as the CUDA engine's are, so a
 * checkpoint holds them exactly and a resumed run continues bit for bit. */
#include "worker_engine.h"

#include "proxy_ref.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cpu_engine {
	struct engine_conf c;
	const struct proxy_net *net;
	struct ref_net *ref;
	double *p, *v, *g, *x, *teacher;
	int32_t *ids, *labels;
};

static int cpu_devices(char *name, size_t namelen, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	snprintf(name, namelen, "cpu");
	return 1;
}

/* Random bytes, as an NCCL id is. The engine cannot use them (open refuses
 * more than one rank), but rank 0 announces them, so the rendezvous relay
 * (worker, agent, hared, file) runs without a GPU. */
static int cpu_uid_new(uint8_t *uid, size_t cap, size_t *len, char *err, size_t errlen)
{
	size_t n = cap < WORKER_UID_BYTES ? cap : WORKER_UID_BYTES;

	if (getentropy(uid, n) < 0) {
		int e = errno;

		snprintf(err, errlen, "no random bytes for the rendezvous id: %s", strerror(e));
		return -e;
	}
	*len = n;
	return 0;
}

static void cpu_close(void *eng)
{
	struct cpu_engine *e = eng;

	if (!e)
		return;
	ref_net_free(e->ref);
	free(e->p), free(e->v), free(e->g), free(e->x), free(e->teacher);
	free(e->ids), free(e->labels);
	free(e);
}

static void cpu_round_state(struct cpu_engine *e)
{
	for (uint64_t i = 0; i < e->net->nparams; i++) {
		e->p[i] = (float)e->p[i];
		e->v[i] = (float)e->v[i];
	}
}

static int cpu_open(const struct engine_conf *c, void **eng, char *err, size_t errlen)
{
	const struct proxy_net *net = c->net;
	struct cpu_engine *e;

	if (c->world_size != 1) {
		snprintf(err, errlen, "the cpu engine runs a single rank, not %u", c->world_size);
		return -ENOTSUP;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		goto oom;
	e->c = *c;
	e->net = net;
	e->p = calloc(net->nparams, sizeof(double));
	e->v = calloc(net->nparams, sizeof(double));
	e->g = calloc(net->nparams, sizeof(double));
	e->x = calloc(net->input_size + 1, sizeof(double));
	e->teacher = calloc((size_t)net->classes * proxy_teacher_width(net), sizeof(double));
	e->ids = calloc(net->input_size + 1, sizeof(int32_t));
	e->labels = calloc(net->label_rows + 1, sizeof(int32_t));
	if (!e->p || !e->v || !e->g || !e->x || !e->teacher || !e->ids || !e->labels ||
	    ref_net_new(net, &e->ref) < 0)
		goto oom;
	ref_params_init(net, c->seed, e->p);
	cpu_round_state(e);
	ref_teacher_fill(net, c->seed, e->teacher);
	*eng = e;
	return 0;
oom:
	cpu_close(e);
	snprintf(err, errlen, "out of memory for the cpu engine");
	return -ENOMEM;
}

static int cpu_info(void *eng, struct engine_info *out)
{
	struct cpu_engine *e = eng;

	memset(out, 0, sizeof(*out));
	snprintf(out->device, sizeof(out->device), "cpu");
	out->tasks_total = e->c.tasks;
	return 0;
}

static int cpu_state_get(void *eng, float *params, float *momentum, char *err, size_t errlen)
{
	struct cpu_engine *e = eng;

	(void)err, (void)errlen;
	for (uint64_t i = 0; i < e->net->nparams; i++) {
		params[i] = (float)e->p[i];
		momentum[i] = (float)e->v[i];
	}
	return 0;
}

static int cpu_state_set(void *eng, const float *params, const float *momentum, char *err,
			 size_t errlen)
{
	struct cpu_engine *e = eng;

	(void)err, (void)errlen;
	for (uint64_t i = 0; i < e->net->nparams; i++) {
		e->p[i] = params[i];
		e->v[i] = momentum[i];
	}
	return 0;
}

static int cpu_state_bcast(void *eng, uint64_t *round, char *err, size_t errlen)
{
	(void)eng, (void)round, (void)err, (void)errlen;
	return 0;
}

static int cpu_round_run(void *eng, uint64_t round, bool stop, struct engine_round *out, char *err,
			 size_t errlen)
{
	struct cpu_engine *e = eng;
	const struct proxy_net *net = e->net;
	double t0 = worker_now_s(), gscale = 1.0 / ((double)net->label_rows * e->c.tasks), loss = 0;

	memset(e->g, 0, net->nparams * sizeof(double));
	for (uint32_t t = 0; t < e->c.tasks; t++) {
		double l;

		ref_batch_fill(net, e->c.seed, e->teacher, round, t, e->x, e->ids, e->labels);
		if (ref_net_run(e->ref, e->p, e->x, e->ids, e->labels, NULL, gscale, e->g, NULL, &l) < 0) {
			snprintf(err, errlen, "bad synthetic batch (an id or label out of range)");
			return -EINVAL;
		}
		loss += l;
	}
	ref_sgd_update(e->p, e->v, e->g, net->nparams, net->spec.lr, net->spec.momentum,
		       net->spec.clip);
	cpu_round_state(e);
	*out = (struct engine_round){ .compute_s = worker_now_s() - t0, .loss = loss, .stop = stop };
	return 0;
}

static int cpu_allreduce_time(uint64_t floats, uint32_t gpus, uint32_t iters, double *seconds,
			      char *err, size_t errlen)
{
	(void)floats, (void)gpus, (void)iters, (void)seconds;
	snprintf(err, errlen, "the cpu engine has no all-reduce");
	return -ENOTSUP;
}

static const struct engine_ops cpu_ops = {
	.abi = WORKER_ENGINE_ABI,
	.name = "cpu",
	.devices = cpu_devices,
	.uid_new = cpu_uid_new,
	.open = cpu_open,
	.info = cpu_info,
	.state_get = cpu_state_get,
	.state_set = cpu_state_set,
	.state_bcast = cpu_state_bcast,
	.round_run = cpu_round_run,
	.allreduce_time = cpu_allreduce_time,
	.close = cpu_close,
};

const struct engine_ops *worker_engine_cpu(void)
{
	return &cpu_ops;
}
