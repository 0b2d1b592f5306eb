/* SPDX-License-Identifier: MIT */
/* The CUDA engine behind struct engine_ops: device discovery, NCCL
 * rendezvous and collectives (the fused gradient all-reduce, the state
 * broadcast, a timed all-reduce for --profile), rounds timed with CUDA
 * events, and the two test entry points of cuda_api.h. */
#include "cuda_api.h"
#include "cuda_internal.h"

#include <errno.h>
#include <nccl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* NCCL's own word that a peer rank or the network failed: -ECONNRESET, so
 * the worker exits WORKER_EXIT_PEER and hared charges another node */
#define NC_RC(r) ((r) == ncclRemoteError ? -ECONNRESET : -EIO)
/* Joining: a system error there is the bootstrap's sockets (a peer that
 * never came, a link down) as often as this node; exit 75 charges no node
 * at once, and hared names the node that such failures keep meeting
 * (docs/hared.md, "Failures with no culprit") */
#define NC_INIT_RC(r) ((r) == ncclRemoteError || (r) == ncclSystemError ? -ECONNRESET : -EIO)

#define NC_CHECK(c, call) do { \
	ncclResult_t r_ = (call); \
	if (r_ != ncclSuccess) \
		return cu_fail((c), NC_RC(r_), __FILE__, __LINE__, #call, ncclGetErrorString(r_)); \
} while (0)

/* Between ncclGroupStart and ncclGroupEnd: the first failure is kept (g)
 * and the calls after it skipped, but the group is still ended, or every
 * later NCCL call of the thread would be deferred into it. */
#define NC_GROUP_OP(g, call) do { \
	if ((g) == ncclSuccess) \
		(g) = (call); \
} while (0)
#define NC_GROUP_END(c, g, what) do { \
	ncclResult_t e_ = ncclGroupEnd(); \
	if ((g) == ncclSuccess) \
		(g) = e_; \
	if ((g) != ncclSuccess) \
		return cu_fail((c), NC_RC(g), __FILE__, __LINE__, what, ncclGetErrorString(g)); \
} while (0)

struct cu_engine {
	struct cu_net n;
	struct engine_conf conf;
	ncclComm_t comm;
	cudaEvent_t ev[4];
	float *h_slots;		/* pinned: the loss and stop slots after a round */
	/* pinned: a copy to pageable memory would wait for the collective
	 * before it inside the CUDA call, where cu_sync cannot see NCCL's
	 * errors (a dead peer would hang this rank for good) */
	uint64_t *h_round;
	int32_t *h_tasks;
	uint64_t *d_round;
	int32_t *d_tasks;
	uint32_t task_first, tasks_total;
	char device[64];
};

static void cu_err_to(struct cu_engine *e, char *err, size_t errlen)
{
	e->n.err = err;
	e->n.errlen = errlen;
}

static int cu_devices(char *name, size_t namelen, char *err, size_t errlen)
{
	cudaDeviceProp p;
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e == cudaErrorInsufficientDriver) {
		/* a GPU may well be there: the driver is too old for this build */
		snprintf(err, errlen, "the NVIDIA driver is older than this build's CUDA runtime %d.%d "
			 "(%s): update the driver, or build with the driver's CUDA toolkit",
			 CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, cudaGetErrorString(e));
		return -ENODEV;
	}
	if (e != cudaSuccess || n == 0) {
		snprintf(err, errlen, "no CUDA driver/GPU (%s): run with --emulate",
			 e != cudaSuccess ? cudaGetErrorString(e) : "no device");
		return -ENODEV;
	}
	if (name && cudaGetDeviceProperties(&p, 0) == cudaSuccess)
		snprintf(name, namelen, "%.63s", p.name);
	return n;
}

static int cu_uid_new(uint8_t *uid, size_t cap, size_t *len, char *err, size_t errlen)
{
	ncclUniqueId id;
	ncclResult_t r;

	if (cap < sizeof(id)) {
		snprintf(err, errlen, "NCCL id needs %zu bytes", sizeof(id));
		return -EINVAL;
	}
	r = ncclGetUniqueId(&id);
	if (r != ncclSuccess) {
		snprintf(err, errlen, "ncclGetUniqueId: %s", ncclGetErrorString(r));
		return -EIO;
	}
	memcpy(uid, &id, sizeof(id));
	*len = sizeof(id);
	return 0;
}

static void cu_close(void *eng)
{
	struct cu_engine *e = (struct cu_engine *)eng;

	if (!e)
		return;
	/* after a failure, only an abort ends collectives left waiting on peers */
	if (e->comm && e->n.failed)
		ncclCommAbort(e->comm);
	if (e->n.st)
		cudaStreamSynchronize(e->n.st);
	if (e->comm && !e->n.failed)
		ncclCommDestroy(e->comm);
	for (int i = 0; i < 4; i++)
		if (e->ev[i])
			cudaEventDestroy(e->ev[i]);
	cudaFreeHost(e->h_slots);
	cudaFreeHost(e->h_round);
	cudaFreeHost(e->h_tasks);
	cudaFree(e->d_round);
	cudaFree(e->d_tasks);
	cu_net_free(&e->n);
	free(e);
}

/*
 * Wait for the engine's stream. With peers, also poll NCCL's asynchronous
 * error: when a peer dies or the network fails, NCCL's kernels keep waiting
 * and a plain synchronize never returns; the error (and cu_close's
 * ncclCommAbort) ends them.
 */
static int cu_sync(struct cu_engine *e)
{
	struct cu_net *n = &e->n;
	ncclResult_t async = ncclSuccess;
	cudaError_t q;

	if (!e->comm) {
		CU_CHECK(n, cudaStreamSynchronize(n->st));
		return 0;
	}
	while ((q = cudaStreamQuery(n->st)) == cudaErrorNotReady) {
		NC_CHECK(n, ncclCommGetAsyncError(e->comm, &async));
		if (async != ncclSuccess && async != ncclInProgress)
			return cu_fail(n, NC_RC(async), __FILE__, __LINE__, "NCCL",
				       ncclGetErrorString(async));
		sched_yield();
	}
	CU_CHECK(n, q);
	return 0;
}

/* Join the other ranks and learn where this rank's tasks start. */
static int cu_comm_init(struct cu_engine *e)
{
	const struct engine_conf *c = &e->conf;
	struct cu_net *n = &e->n;
	int32_t *tasks;
	ncclUniqueId id;

	if (c->uid_len != sizeof(id) || c->world_size > 1024)
		return cu_fail(n, -EINVAL, __FILE__, __LINE__, "rendezvous", "bad NCCL id or world size");
	memcpy(&id, c->uid, sizeof(id));
	CU_CHECK(n, cudaMallocHost((void **)&e->h_tasks, c->world_size * sizeof(int32_t)));
	tasks = e->h_tasks;
	tasks[c->rank] = (int32_t)c->tasks;
	{
		ncclResult_t r = ncclCommInitRank(&e->comm, (int)c->world_size, id, (int)c->rank);

		if (r != ncclSuccess)
			return cu_fail(n, NC_INIT_RC(r), __FILE__, __LINE__, "ncclCommInitRank",
				       ncclGetErrorString(r));
	}
	CU_CHECK(n, cudaMalloc((void **)&e->d_tasks, c->world_size * sizeof(int32_t)));
	/* in stream order: the copy in reads tasks[rank] before the copy out
	 * writes every entry */
	CU_CHECK(n, cudaMemcpyAsync(e->d_tasks + c->rank, tasks + c->rank, sizeof(int32_t),
				    cudaMemcpyHostToDevice, n->st));
	NC_CHECK(n, ncclAllGather(e->d_tasks + c->rank, e->d_tasks, 1, ncclInt32, e->comm, n->st));
	CU_CHECK(n, cudaMemcpyAsync(tasks, e->d_tasks, c->world_size * sizeof(int32_t),
				    cudaMemcpyDeviceToHost, n->st));
	/* NCCL connects an algorithm's peers at its first use: do it here, not
	 * in the first round's sync_s (the gradients are zero, rounds reset them) */
	NC_CHECK(n, ncclAllReduce(n->grads, n->grads, c->net->nparams + CU_SLOTS, ncclFloat, ncclSum,
				  e->comm, n->st));
	CU_TRY(cu_sync(e));
	e->task_first = e->tasks_total = 0;
	for (uint32_t r = 0; r < c->world_size; r++) {
		if (r < c->rank)
			e->task_first += (uint32_t)tasks[r];
		e->tasks_total += (uint32_t)tasks[r];
	}
	return 0;
}

static int cu_open_on(struct cu_engine *e)
{
	const struct engine_conf *c = &e->conf;
	struct cu_net *n = &e->n;
	cudaDeviceProp p;

	CU_TRY(cu_net_alloc(n, c->net, c->device));
	CU_TRY(cu_net_init(n, c->seed));
	for (int i = 0; i < 4; i++)
		CU_CHECK(n, cudaEventCreate(&e->ev[i]));
	CU_CHECK(n, cudaMallocHost((void **)&e->h_slots, CU_SLOTS * sizeof(float)));
	CU_CHECK(n, cudaMallocHost((void **)&e->h_round, sizeof(uint64_t)));
	CU_CHECK(n, cudaMalloc((void **)&e->d_round, sizeof(uint64_t)));
	CU_CHECK(n, cudaGetDeviceProperties(&p, c->device));
	snprintf(e->device, sizeof(e->device), "%.63s", p.name);
	e->task_first = 0;
	e->tasks_total = c->tasks;
	if (c->world_size > 1)
		CU_TRY(cu_comm_init(e));
	CU_CHECK(n, cudaStreamSynchronize(n->st));
	return 0;
}

static int cu_open(const struct engine_conf *c, void **out, char *err, size_t errlen)
{
	struct cu_engine *e;
	int ngpu = cu_devices(NULL, 0, err, errlen), rc;

	if (ngpu < 0)
		return ngpu;
	if (c->device < 0 || c->device >= ngpu) {
		snprintf(err, errlen, "device %d: %d GPU(s) visible", c->device, ngpu);
		return -ENODEV;
	}
	e = (struct cu_engine *)calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errlen, "out of host memory");
		return -ENOMEM;
	}
	e->conf = *c;
	cu_err_to(e, err, errlen);
	rc = cu_open_on(e);
	if (rc < 0) {
		cu_close(e);
		return rc;
	}
	*out = e;
	return 0;
}

static int cu_info(void *eng, struct engine_info *out)
{
	struct cu_engine *e = (struct cu_engine *)eng;

	memset(out, 0, sizeof(*out));
	snprintf(out->device, sizeof(out->device), "%s", e->device);
	out->task_first = e->task_first;
	out->tasks_total = e->tasks_total;
	out->mem_bytes = e->n.mem_bytes;
	return 0;
}

static int cu_state_get(void *eng, float *params, float *momentum, char *err, size_t errlen)
{
	struct cu_engine *e = (struct cu_engine *)eng;
	struct cu_net *n = &e->n;
	size_t bytes = n->net->nparams * sizeof(float);

	cu_err_to(e, err, errlen);
	CU_CHECK(n, cudaMemcpyAsync(params, n->params, bytes, cudaMemcpyDeviceToHost, n->st));
	CU_CHECK(n, cudaMemcpyAsync(momentum, n->mom, bytes, cudaMemcpyDeviceToHost, n->st));
	CU_CHECK(n, cudaStreamSynchronize(n->st));
	return 0;
}

static int cu_state_set(void *eng, const float *params, const float *momentum, char *err,
			size_t errlen)
{
	struct cu_engine *e = (struct cu_engine *)eng;
	struct cu_net *n = &e->n;
	size_t bytes = n->net->nparams * sizeof(float);

	cu_err_to(e, err, errlen);
	CU_CHECK(n, cudaMemcpyAsync(n->params, params, bytes, cudaMemcpyHostToDevice, n->st));
	CU_CHECK(n, cudaMemcpyAsync(n->mom, momentum, bytes, cudaMemcpyHostToDevice, n->st));
	CU_CHECK(n, cudaStreamSynchronize(n->st));
	return 0;
}

static int cu_state_bcast(void *eng, uint64_t *round, char *err, size_t errlen)
{
	struct cu_engine *e = (struct cu_engine *)eng;
	struct cu_net *n = &e->n;
	size_t np = n->net->nparams;
	ncclResult_t g = ncclSuccess;

	cu_err_to(e, err, errlen);
	if (!e->comm)
		return 0;
	*e->h_round = *round;
	CU_CHECK(n, cudaMemcpyAsync(e->d_round, e->h_round, sizeof(*round), cudaMemcpyHostToDevice,
				    n->st));
	NC_CHECK(n, ncclGroupStart());
	NC_GROUP_OP(g, ncclBroadcast(n->params, n->params, np, ncclFloat, 0, e->comm, n->st));
	NC_GROUP_OP(g, ncclBroadcast(n->mom, n->mom, np, ncclFloat, 0, e->comm, n->st));
	NC_GROUP_OP(g, ncclBroadcast(e->d_round, e->d_round, 1, ncclUint64, 0, e->comm, n->st));
	NC_GROUP_END(n, g, "ncclBroadcast of the restored state (group)");
	CU_CHECK(n, cudaMemcpyAsync(e->h_round, e->d_round, sizeof(*round), cudaMemcpyDeviceToHost,
				    n->st));
	CU_TRY(cu_sync(e));
	*round = *e->h_round;
	return 0;
}

/* The rank's tasks back to back, one fused all-reduce, the update; timed
 * with events: [0,1] compute, [1,2] sync, [2,3] update (compute). */
static int cu_round_run(void *eng, uint64_t round, bool stop, struct engine_round *out, char *err,
			size_t errlen)
{
	struct cu_engine *e = (struct cu_engine *)eng;
	struct cu_net *n = &e->n;
	const struct proxy_net *net = n->net;
	const struct proxy_spec *s = &net->spec;
	float gscale = 1.0f / ((float)net->label_rows * (float)e->tasks_total), ms[3];

	cu_err_to(e, err, errlen);
	(void)cudaGetLastError();	/* earlier failures were handled where they happened */
	CU_CHECK(n, cudaEventRecord(e->ev[0], n->st));
	CU_CHECK(n, cudaMemsetAsync(n->grads, 0, (net->nparams + CU_SLOTS) * sizeof(float), n->st));
	if (stop)
		cu_k_fill(n->st, n->grads + net->nparams + CU_SLOT_STOP, 1, 1.0f);
	for (uint32_t t = 0; t < e->conf.tasks; t++) {
		cu_k_batch(n->st, n, e->conf.seed, round, e->task_first + t);
		CU_TRY(cu_net_run(n, gscale, NULL, NULL));
	}
	CU_CHECK(n, cudaEventRecord(e->ev[1], n->st));
	if (e->comm)
		NC_CHECK(n, ncclAllReduce(n->grads, n->grads, net->nparams + CU_SLOTS, ncclFloat, ncclSum,
					  e->comm, n->st));
	CU_CHECK(n, cudaEventRecord(e->ev[2], n->st));
	CU_TRY(cu_net_sgd(n, (float)s->lr, (float)s->momentum, (float)s->clip));
	CU_CHECK(n, cudaMemcpyAsync(e->h_slots, n->grads + net->nparams, CU_SLOTS * sizeof(float),
				    cudaMemcpyDeviceToHost, n->st));
	CU_CHECK(n, cudaEventRecord(e->ev[3], n->st));
	CU_TRY(cu_sync(e));	/* ev[3] is the stream's last work */
	CU_CHECK(n, cu_launch_error());
	for (int i = 0; i < 3; i++)
		CU_CHECK(n, cudaEventElapsedTime(&ms[i], e->ev[i], e->ev[i + 1]));
	out->compute_s = (ms[0] + ms[2]) / 1000.0;
	out->sync_s = ms[1] / 1000.0;
	out->loss = e->h_slots[CU_SLOT_LOSS];
	out->stop = e->h_slots[CU_SLOT_STOP] > 0.5f;
	return 0;
}

/* ---- a timed all-reduce over local GPUs (one process, --profile) ---- */

struct cu_ar {
	uint32_t gpus;
	ncclComm_t comm[64];
	float *buf[64];
	cudaStream_t st[64];
};

static void cu_ar_free(struct cu_ar *a)
{
	for (uint32_t d = 0; d < a->gpus; d++) {
		cudaSetDevice((int)d);
		if (a->st[d])
			cudaStreamSynchronize(a->st[d]);
		if (a->comm[d])
			ncclCommDestroy(a->comm[d]);
		cudaFree(a->buf[d]);
		if (a->st[d])
			cudaStreamDestroy(a->st[d]);
	}
}

static int cu_ar_rounds(struct cu_net *c, struct cu_ar *a, uint64_t floats, uint32_t iters)
{
	for (uint32_t i = 0; i < iters; i++) {
		ncclResult_t g = ncclSuccess;

		NC_CHECK(c, ncclGroupStart());
		for (uint32_t d = 0; d < a->gpus; d++)
			NC_GROUP_OP(g, ncclAllReduce(a->buf[d], a->buf[d], floats, ncclFloat, ncclSum,
						     a->comm[d], a->st[d]));
		NC_GROUP_END(c, g, "ncclAllReduce (group)");
	}
	for (uint32_t d = 0; d < a->gpus; d++)
		CU_CHECK(c, cudaStreamSynchronize(a->st[d]));
	return 0;
}

static double cu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cu_ar_time(struct cu_net *c, struct cu_ar *a, uint64_t floats, uint32_t iters, double *s)
{
	int devs[64];
	double t0;

	for (uint32_t d = 0; d < a->gpus; d++)
		devs[d] = (int)d;
	NC_CHECK(c, ncclCommInitAll(a->comm, (int)a->gpus, devs));
	for (uint32_t d = 0; d < a->gpus; d++) {
		CU_CHECK(c, cudaSetDevice((int)d));
		CU_CHECK(c, cudaStreamCreateWithFlags(&a->st[d], cudaStreamNonBlocking));
		CU_CHECK(c, cudaMalloc((void **)&a->buf[d], floats * sizeof(float)));
		CU_CHECK(c, cudaMemsetAsync(a->buf[d], 0, floats * sizeof(float), a->st[d]));
	}
	CU_TRY(cu_ar_rounds(c, a, floats, 3));
	t0 = cu_now();
	CU_TRY(cu_ar_rounds(c, a, floats, iters));
	*s = (cu_now() - t0) / iters;
	return 0;
}

static int cu_allreduce_time(uint64_t floats, uint32_t gpus, uint32_t iters, double *seconds,
			     char *err, size_t errlen)
{
	struct cu_net c;
	struct cu_ar a;
	int ngpu = cu_devices(NULL, 0, err, errlen), rc;

	if (ngpu < 0)
		return ngpu;
	if (gpus < 1 || gpus > (uint32_t)ngpu || gpus > 64 || iters == 0) {
		snprintf(err, errlen, "an all-reduce over %u GPUs: %d visible", gpus, ngpu);
		return -EINVAL;
	}
	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	c.err = err;
	c.errlen = errlen;
	a.gpus = gpus;
	rc = cu_ar_time(&c, &a, floats, iters, seconds);
	cu_ar_free(&a);
	return rc;
}

static const struct engine_ops cu_ops = {
	WORKER_ENGINE_ABI, "cuda", cu_devices, cu_uid_new, cu_open, cu_info, cu_state_get,
	cu_state_set, cu_state_bcast, cu_round_run, cu_allreduce_time, cu_close,
};

extern "C" const struct engine_ops *hare_worker_cuda_engine(void)
{
	return &cu_ops;
}

/* ---- tests/gpu entry points ---- */

static int cu_check_run(struct cu_net *c, const struct proxy_net *net, const float *params,
			const float *x, const int32_t *ids, const int32_t *labels, const float *dout,
			float gscale, float *out, float *grads, float *dx)
{
	const struct proxy_layer *last = &net->layers[net->nlayers - 1];
	float *d_dout = NULL, *d_dx = NULL;
	int rc = 0;

	CU_CHECK(c, cudaMemcpyAsync(c->params, params, net->nparams * sizeof(float),
				    cudaMemcpyHostToDevice, c->st));
	if (net->input_ids)
		CU_CHECK(c, cudaMemcpyAsync(c->ids, ids, net->input_size * 4, cudaMemcpyHostToDevice, c->st));
	else
		CU_CHECK(c, cudaMemcpyAsync(c->input, x, net->input_size * 4, cudaMemcpyHostToDevice, c->st));
	if (last->op == PROXY_OP_XENT)
		CU_CHECK(c, cudaMemcpyAsync(c->labels, labels, net->label_rows * 4, cudaMemcpyHostToDevice, c->st));
	CU_CHECK(c, cudaMalloc((void **)&d_dout, last->out_size * sizeof(float)));
	CU_CHECK(c, cudaMalloc((void **)&d_dx, (net->input_size + 1) * sizeof(float)));
	if (last->op != PROXY_OP_XENT)
		CU_CHECK(c, cudaMemcpyAsync(d_dout, dout, last->out_size * 4, cudaMemcpyHostToDevice, c->st));
	CU_CHECK(c, cudaMemsetAsync(d_dx, 0, (net->input_size + 1) * sizeof(float), c->st));
	rc = cu_net_run(c, gscale, last->op == PROXY_OP_XENT ? NULL : d_dout, d_dx);
	if (rc == 0 && cudaMemcpyAsync(out, c->out[net->nlayers - 1], last->out_size * 4,
				       cudaMemcpyDeviceToHost, c->st) == cudaSuccess &&
	    cudaMemcpyAsync(grads, c->grads, net->nparams * 4, cudaMemcpyDeviceToHost, c->st) == cudaSuccess &&
	    (!dx || net->input_ids ||
	     cudaMemcpyAsync(dx, d_dx, net->input_size * 4, cudaMemcpyDeviceToHost, c->st) == cudaSuccess))
		rc = cudaStreamSynchronize(c->st) == cudaSuccess ? 0 : -EIO;
	else if (rc == 0)
		rc = cu_fail(c, -EIO, __FILE__, __LINE__, "copy back", cudaGetErrorString(cudaGetLastError()));
	cudaFree(d_dout);
	cudaFree(d_dx);
	return rc;
}

extern "C" int hare_cuda_net_check(const struct proxy_net *net, int device, const float *params,
				   const float *x, const int32_t *ids, const int32_t *labels,
				   const float *dout, float gscale, float *out, float *grads, float *dx,
				   char *err, size_t errlen)
{
	struct cu_net c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.err = err;
	c.errlen = errlen;
	rc = cu_net_alloc(&c, net, device);
	if (rc == 0)
		rc = cu_check_run(&c, net, params, x, ids, labels, dout, gscale, out, grads, dx);
	cu_net_free(&c);
	return rc;
}

/* Floats a recorded operand spans (row-major, with its leading dimension). */
static uint64_t cu_span(int rows, int cols, int ld, long long stride, int batch)
{
	return (uint64_t)(rows - 1) * ld + cols + (uint64_t)stride * (batch - 1);
}

static int cu_replay(struct cu_net *c, float *a, float *b, float *cm, uint32_t iters)
{
	for (uint32_t it = 0; it < iters; it++) {
		for (uint32_t i = 0; i < c->nlog; i++) {
			const struct cu_gemm_rec *r = &c->log[i];
			cublasOperation_t oa = r->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
			cublasOperation_t ob = r->tb ? CUBLAS_OP_T : CUBLAS_OP_N;

			if (r->batch == 1)
				CU_BLAS(c, cublasSgemm(c->blas, ob, oa, r->n, r->m, r->k, &r->alpha, b, r->ldb, a,
						       r->lda, &r->beta, cm, r->ldc));
			else
				CU_BLAS(c, cublasSgemmStridedBatched(c->blas, ob, oa, r->n, r->m, r->k, &r->alpha,
								     b, r->ldb, r->sb, a, r->lda, r->sa,
								     &r->beta, cm, r->ldc, r->sc, r->batch));
		}
	}
	return 0;
}

/* The logged GEMMs alone on scratch operands of the same shapes. */
static int cu_bench_gemms(struct cu_net *c, uint32_t iters, struct hare_cuda_bench *out)
{
	uint64_t sa = 1, sb = 1, sc = 1;
	float *a = NULL, *b = NULL, *cm = NULL, ms;
	cudaEvent_t e0, e1;
	int rc;

	out->gemm_flops = 0;
	for (uint32_t i = 0; i < c->nlog; i++) {
		const struct cu_gemm_rec *r = &c->log[i];
		uint64_t x = r->ta ? cu_span(r->k, r->m, r->lda, r->sa, r->batch)
				   : cu_span(r->m, r->k, r->lda, r->sa, r->batch);
		uint64_t y = r->tb ? cu_span(r->n, r->k, r->ldb, r->sb, r->batch)
				   : cu_span(r->k, r->n, r->ldb, r->sb, r->batch);
		uint64_t z = cu_span(r->m, r->n, r->ldc, r->sc, r->batch);

		sa = x > sa ? x : sa;
		sb = y > sb ? y : sb;
		sc = z > sc ? z : sc;
		out->gemm_flops += 2.0 * r->m * r->n * r->k * r->batch;
	}
	out->gemms = c->nlog;
	CU_CHECK(c, cudaMalloc((void **)&a, sa * 4));
	CU_CHECK(c, cudaMalloc((void **)&b, sb * 4));
	CU_CHECK(c, cudaMalloc((void **)&cm, sc * 4));
	/* random operands, as the model's: on zeros the GPU draws less power
	 * and clocks higher, which would flatter the reference rate */
	cu_k_teacher(c->st, a, sa, 11);
	cu_k_teacher(c->st, b, sb, 12);
	cudaMemsetAsync(cm, 0, sc * 4, c->st);
	cudaEventCreate(&e0);
	cudaEventCreate(&e1);
	rc = cu_replay(c, a, b, cm, 2);
	cudaEventRecord(e0, c->st);
	if (rc == 0)
		rc = cu_replay(c, a, b, cm, iters);
	cudaEventRecord(e1, c->st);
	cudaEventSynchronize(e1);
	cudaEventElapsedTime(&ms, e0, e1);
	out->gemm_s = ms / 1000.0 / iters;
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	cudaFree(a);
	cudaFree(b);
	cudaFree(cm);
	return rc;
}

static int cu_bench_steps(struct cu_net *c, uint32_t iters, struct hare_cuda_bench *out)
{
	const struct proxy_spec *s = &c->net->spec;
	float gscale = 1.0f / c->net->label_rows, ms;
	cudaEvent_t e0 = NULL, e1 = NULL;

	CU_TRY(cu_net_init(c, 1));
	for (uint32_t i = 0; i < 3 + iters; i++) {
		if (i == 3) {
			CU_CHECK(c, cudaEventCreate(&e0));
			CU_CHECK(c, cudaEventCreate(&e1));
			CU_CHECK(c, cudaEventRecord(e0, c->st));
		}
		c->logging = i == 2;
		CU_CHECK(c, cudaMemsetAsync(c->grads, 0, (c->net->nparams + CU_SLOTS) * 4, c->st));
		cu_k_batch(c->st, c, 1, i, 0);
		CU_TRY(cu_net_run(c, gscale, NULL, NULL));
		c->logging = false;
		CU_TRY(cu_net_sgd(c, (float)s->lr, (float)s->momentum, (float)s->clip));
	}
	CU_CHECK(c, cudaEventRecord(e1, c->st));
	CU_CHECK(c, cudaEventSynchronize(e1));
	CU_CHECK(c, cudaEventElapsedTime(&ms, e0, e1));
	out->step_s = ms / 1000.0 / iters;
	cudaEventDestroy(e0);
	cudaEventDestroy(e1);
	return 0;
}

extern "C" int hare_cuda_bench_step(const struct proxy_net *net, int device, uint32_t iters,
				    struct hare_cuda_bench *out, char *err, size_t errlen)
{
	struct cu_net c;
	int rc;

	memset(&c, 0, sizeof(c));
	memset(out, 0, sizeof(*out));
	c.err = err;
	c.errlen = errlen;
	if (iters == 0)
		iters = 1;
	rc = cu_net_alloc(&c, net, device);
	if (rc == 0)
		rc = cu_bench_steps(&c, iters, out);
	if (rc == 0)
		rc = cu_bench_gemms(&c, iters, out);
	cu_net_free(&c);
	return rc;
}
