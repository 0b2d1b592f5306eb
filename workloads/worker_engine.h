/* SPDX-License-Identifier: MIT */
/* The training engines of hare-worker's real mode behind one table of
 * functions: the CUDA engine in libhare_worker_cuda.so (loaded with dlopen,
 * so hare-worker starts on machines without CUDA) and the float64 CPU
 * reference. Also the real mode's report writer. */
#ifndef HARE_WORKER_ENGINE_H
#define HARE_WORKER_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever this table or the structs below change. */
#define WORKER_ENGINE_ABI 1
/* The function libhare_worker_cuda.so exports: const struct engine_ops *(void). */
#define WORKER_ENGINE_SYMBOL "hare_worker_cuda_engine"
#define WORKER_ENGINE_LIB "libhare_worker_cuda.so"
/* NCCL's unique id size (NCCL_UNIQUE_ID_BYTES). */
#define WORKER_UID_BYTES 128

struct engine_conf {
	const struct proxy_net *net;	/* borrowed until close */
	uint64_t seed;			/* parameters, teacher and data derive from it */
	uint32_t rank, world_size;
	uint32_t tasks, job_tasks;	/* micro-batches per round: this rank, whole job */
	int device;			/* CUDA ordinal */
	const uint8_t *uid;		/* world_size > 1: rank 0's NCCL id */
	size_t uid_len;
};

struct engine_info {
	char device[64];		/* device name */
	uint32_t task_first;		/* global index of this rank's first micro-batch */
	uint32_t tasks_total;		/* micro-batches of all ranks per round */
	uint64_t mem_bytes;		/* device memory the engine holds */
};

struct engine_round {
	double compute_s;	/* data, forward, backward of the rank's tasks + update */
	double sync_s;		/* the all-reduce of the fused gradient buffer */
	double loss;		/* mean loss over the round's samples (all ranks) */
	bool stop;		/* some rank asked to stop: every rank stops after this round */
};

/*
 * Every function returns 0 (or a count) or a negative code with a one-line
 * reason in err: -ENODEV (no driver or GPU), -EIO (a CUDA, cuBLAS or NCCL
 * failure), -ECONNRESET (NCCL says a peer rank or the network failed:
 * ncclRemoteError), -ENOMEM, -ENOTSUP, -EINVAL. An engine is used from one thread.
 */
struct engine_ops {
	uint32_t abi;		/* WORKER_ENGINE_ABI */
	const char *name;
	/* Usable devices (> 0), with the first one's name. */
	int (*devices)(char *name, size_t namelen, char *err, size_t errlen);
	/* A new NCCL unique id (rank 0, before open). */
	int (*uid_new)(uint8_t *uid, size_t cap, size_t *len, char *err, size_t errlen);
	/* Allocate, initialise parameters from the seed, join the ranks (collective
	 * when world_size > 1: every rank calls it with the same uid). */
	int (*open)(const struct engine_conf *c, void **eng, char *err, size_t errlen);
	int (*info)(void *eng, struct engine_info *out);
	/* Copy parameters and momentum (net->nparams floats each) out and in. */
	int (*state_get)(void *eng, float *params, float *momentum, char *err, size_t errlen);
	int (*state_set)(void *eng, const float *params, const float *momentum, char *err,
			 size_t errlen);
	/* Collective: rank 0's parameters, momentum and *round to every rank. */
	int (*state_bcast)(void *eng, uint64_t *round, char *err, size_t errlen);
	/*
	 * Collective: one round: the rank's micro-batches back to back
	 * accumulating gradients, one all-reduce of the fused gradient buffer
	 * (with the loss and the stop votes), the momentum SGD update.
	 */
	int (*round_run)(void *eng, uint64_t round, bool stop, struct engine_round *out, char *err,
			 size_t errlen);
	/* Seconds of one all-reduce of `floats` floats over `gpus` local GPUs. */
	int (*allreduce_time)(uint64_t floats, uint32_t gpus, uint32_t iters, double *seconds,
			      char *err, size_t errlen);
	void (*close)(void *eng);
};

typedef const struct engine_ops *(*engine_entry_fn)(void);

/* The float64 CPU reference as an engine (one rank, wall-clock times). */
const struct engine_ops *worker_engine_cpu(void);

/*
 * dlopen the CUDA engine: path, or (path NULL or "") libhare_worker_cuda.so
 * next to the running binary, in ../lib/hare or ../lib beside it, or on the
 * loader's path. Returns 0, or -ENOENT / -EPROTO with err ending in
 * "no CUDA driver/GPU: run with --emulate".
 */
int worker_engine_cuda_load(const char *path, const struct engine_ops **ops, char *err,
			    size_t errlen);

/* ---- report writing (real mode) ---- */

struct worker_out {
	int fd;
	double batch_s;		/* batch rounds faster than this into one line */
	double wait_s;		/* retry the final line this long when nobody reads */
	double flushed_s;	/* when the last line went out */
	uint64_t reported;	/* rounds reported */
	uint32_t count;		/* pending rounds */
	uint64_t first;
	double compute_s, sync_s, loss;
	double orphan_since;	/* since when writes find no reader (EPIPE); 0: read */
};

void worker_out_init(struct worker_out *w, int fd, uint32_t report_ms, double wait_s);

/* Add a round at now_s (monotonic seconds); writes the pending line when
 * report_ms passed since the last one. 0 or -errno (kept for the next try). */
int worker_out_round(struct worker_out *w, uint64_t round, double compute_s, double sync_s,
		     double loss, double now_s);

/* Write the pending rounds now. */
int worker_out_flush(struct worker_out *w, double now_s);

/* Write one preformatted line (e.g. the rendezvous line). */
int worker_out_raw(struct worker_out *w, const char *line, size_t len);

/* Flush and write "done N" (done) or "stopped N", retrying a reader-less
 * pipe for wait_s unless *stop. */
int worker_out_finish(struct worker_out *w, bool done, volatile sig_atomic_t *stop);

/* Monotonic seconds. */
double worker_now_s(void);

#ifdef __cplusplus
}
#endif

#endif
