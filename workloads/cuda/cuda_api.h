/* SPDX-License-Identifier: MIT */
/* What libhare_worker_cuda.so exports: the engine table hare-worker loads,
 * and two entry points for tests/gpu (a net's forward and backward on given
 * host data, and a step's speed next to cuBLAS running the same GEMMs). */
#ifndef HARE_CUDA_API_H
#define HARE_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#include "proxy.h"
#include "worker_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HARE_CUDA_EXPORT __attribute__((visibility("default")))
#else
#define HARE_CUDA_EXPORT
#endif

/* The engine table (WORKER_ENGINE_SYMBOL). */
HARE_CUDA_EXPORT const struct engine_ops *hare_worker_cuda_engine(void);

/*
 * One micro-batch of net on device `device` with host data: params
 * (net->nparams floats), the input (x floats or ids), labels (when the last
 * layer is XENT) or dout (last layer's out_size floats otherwise), gscale for
 * XENT. Fills out (last layer's out_size floats: XENT's is its scaled loss),
 * grads (nparams) and dx (input_size floats; only when the first layer has
 * need_dx and the input is floats; may be NULL). Returns 0 or a negative
 * code with err.
 */
HARE_CUDA_EXPORT int hare_cuda_net_check(const struct proxy_net *net, int device,
					 const float *params, const float *x, const int32_t *ids,
					 const int32_t *labels, const float *dout, float gscale,
					 float *out, float *grads, float *dx, char *err, size_t errlen);

struct hare_cuda_bench {
	double step_s;		/* one task's step: data, forward, backward, update */
	double gemm_s;		/* the step's GEMMs alone, same shapes, back to back */
	double gemm_flops;
	uint32_t gemms;		/* GEMM calls in a step */
};

/* Time iters steps of net (after a warm-up) and its GEMMs alone. The
 * model's FLOPs per step are proxy_net_flops's (the caller's side). */
HARE_CUDA_EXPORT int hare_cuda_bench_step(const struct proxy_net *net, int device, uint32_t iters,
					  struct hare_cuda_bench *out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
