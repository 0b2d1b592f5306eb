/* SPDX-License-Identifier: MIT */
/* Inside the CUDA engine: the device-side net (buffers of every layer), the
 * kernel launchers and the cuBLAS helpers the .cu files share. Errors are
 * negative codes with a "file:line: what failed: why" message in c->err. */
#ifndef HARE_CUDA_INTERNAL_H
#define HARE_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

/* Extra floats after the gradients in the fused all-reduce buffer. */
#define CU_SLOT_LOSS 0		/* sum of the scaled losses */
#define CU_SLOT_STOP 1		/* stop votes */
#define CU_SLOTS 2
#define CU_MAX_DEPTH 4		/* nesting of residual branches */
#define CU_NORM_BLOCKS 1024	/* blocks of the gradient-norm reduction */

/* One GEMM as cuBLAS ran it (for timing the same shapes alone). */
struct cu_gemm_rec {
	bool ta, tb;
	int m, n, k, lda, ldb, ldc, batch;
	long long sa, sb, sc;
	float alpha, beta;
};

struct cu_net {
	const struct proxy_net *net;
	int device;
	cudaStream_t st;
	cublasHandle_t blas;
	float *params, *grads, *mom;	/* grads has CU_SLOTS more */
	float **out, **save;		/* per layer; out of RES_BEGIN aliases its input */
	float *input;			/* float input, or NULL */
	int32_t *ids, *labels;
	float *g[2];			/* ping-pong input gradients */
	float *skip[CU_MAX_DEPTH];	/* gradients of residual inputs */
	float *col, *dcol, *tmp, *scores, *ones;
	float *lstm_dg, *lstm_dh, *lstm_dc;
	int32_t *emb_count, *emb_off, *emb_cur, *emb_perm;
	float *rowloss, *teacher, *norm_partial, *clip_scale, *one;
	uint64_t ones_len;
	size_t mem_bytes;
	struct cu_gemm_rec *log;	/* when logging: the GEMMs of one run */
	uint32_t nlog, caplog;
	bool logging;
	bool failed;			/* cu_fail was called: NCCL must be aborted */
	char *err;
	size_t errlen;
};

/* Record a failure at file:line; returns code. */
int cu_fail(struct cu_net *c, int code, const char *file, int line, const char *what, const char *why);

#define CU_CHECK(c, call) do { \
	cudaError_t e_ = (call); \
	if (e_ != cudaSuccess) \
		return cu_fail((c), e_ == cudaErrorMemoryAllocation ? -12 : -5, __FILE__, __LINE__, #call, \
			       cudaGetErrorString(e_)); \
} while (0)

#define CU_BLAS(c, call) do { \
	cublasStatus_t s_ = (call); \
	if (s_ != CUBLAS_STATUS_SUCCESS) \
		return cu_fail((c), -5, __FILE__, __LINE__, #call, cublasGetStatusString(s_)); \
} while (0)

#define CU_TRY(call) do { int r_ = (call); if (r_ < 0) return r_; } while (0)

/* Failed kernel launches since the last call of cudaGetLastError (which is
 * also left with the last failure of any runtime call): a "not ready" that
 * polling a stream may leave there is no failure. */
static inline cudaError_t cu_launch_error(void)
{
	cudaError_t e = cudaGetLastError();

	return e == cudaErrorNotReady ? cudaSuccess : e;
}

/* ---- cuda_net.cu ---- */

/* Allocate everything a net needs on the current device (c->err set first). */
int cu_net_alloc(struct cu_net *c, const struct proxy_net *net, int device);
void cu_net_free(struct cu_net *c);
/* Parameters from the seed (proxy_param_init), momentum zero, the teacher. */
int cu_net_init(struct cu_net *c, uint64_t seed);
/*
 * Forward and backward of the micro-batch in c->input / c->ids / c->labels:
 * gradients added into c->grads, XENT's loss added into the loss slot. When
 * the last layer is not XENT, dout (device) seeds the backward. dx (device)
 * gets the float input's gradient when the first layer has need_dx.
 */
int cu_net_run(struct cu_net *c, float gscale, const float *dout, float *dx);
/* Momentum SGD with gradient clipping over the parameters. */
int cu_net_sgd(struct cu_net *c, float lr, float momentum, float clip);

/* ---- cuda_kernels.cu: launchers (asynchronous on st) ---- */

void cu_k_fill(cudaStream_t st, float *p, uint64_t n, float v);
void cu_k_init_layer(cudaStream_t st, float *params, const struct proxy_layer *l, uint64_t seed);
void cu_k_teacher(cudaStream_t st, float *t, uint64_t n, uint64_t seed);
void cu_k_bias_add(cudaStream_t st, float *y, const float *b, uint64_t rows, uint32_t cols);
void cu_k_add(cudaStream_t st, float *y, const float *a, const float *b, uint64_t n);
void cu_k_axpy(cudaStream_t st, float *y, const float *x, uint64_t n);
void cu_k_relu_fwd(cudaStream_t st, const float *x, float *y, uint64_t n);
void cu_k_relu_bwd(cudaStream_t st, const float *y, const float *dy, float *dx, uint64_t n);
void cu_k_im2col(cudaStream_t st, const float *x, float *col, const struct proxy_layer *l);
void cu_k_col2im(cudaStream_t st, const float *dcol, float *dx, const struct proxy_layer *l);
void cu_k_ln_fwd(cudaStream_t st, const float *x, const float *p, float *y, float *save,
		 uint32_t rows, uint32_t dim);
void cu_k_ln_bwd(cudaStream_t st, const float *x, const float *p, const float *save,
		 const float *dy, float *dx, float *dyxh, uint32_t rows, uint32_t dim);
void cu_k_softmax(cudaStream_t st, float *p, uint64_t rows, uint32_t len);
void cu_k_softmax_bwd(cudaStream_t st, const float *p, float *dp, uint64_t rows, uint32_t len);
void cu_k_lstm_fwd(cudaStream_t st, float *gates, float *cells, float *y, uint32_t t, uint32_t n,
		   uint32_t h);
void cu_k_lstm_bwd(cudaStream_t st, const float *gates, const float *cells, const float *dy,
		   const float *dh_rec, float *dc, float *dg, uint32_t t, uint32_t n, uint32_t h);
void cu_k_embed_fwd(cudaStream_t st, const float *table, const int32_t *ids, float *y,
		    const struct proxy_layer *l);
void cu_k_embed_bwd(cudaStream_t st, struct cu_net *c, const int32_t *ids, const float *dy,
		    float *dtable, const struct proxy_layer *l);
void cu_k_posadd(cudaStream_t st, const float *x, const float *p, float *y, uint64_t n, uint64_t td);
void cu_k_xent_fwd(cudaStream_t st, const float *z, const int32_t *labels, float *lse,
		   float *rowloss, uint32_t rows, uint32_t classes);
void cu_k_sum_into(cudaStream_t st, const float *v, uint32_t n, float scale, float *out, float *acc);
void cu_k_xent_bwd(cudaStream_t st, const float *z, const int32_t *labels, const float *lse,
		   float *dz, uint32_t rows, uint32_t classes, float gscale);
void cu_k_sgd(cudaStream_t st, struct cu_net *c, float lr, float momentum, float clip);
/* The synthetic micro-batch of (seed, round, task) into c->input/ids/labels. */
void cu_k_batch(cudaStream_t st, struct cu_net *c, uint64_t seed, uint64_t round, uint64_t task);

#endif
