/* SPDX-License-Identifier: MIT */
/* Counter-based random numbers shared by the CPU reference and the CUDA
 * kernels: every value is a pure function of (seed, stream, index), so
 * parameters, teachers and data are the same on every rank and after a
 * restore, whatever runs them. Also the parameter initialisation rule. */
#ifndef HARE_PROXY_RNG_H
#define HARE_PROXY_RNG_H

#include <math.h>
#include <stdint.h>

#include "proxy.h"

#ifdef __CUDACC__
#define PROXY_HD static __host__ __device__ __forceinline__
#else
#define PROXY_HD static inline
#endif

/* Streams (what a value is for). */
enum {
	PROXY_STREAM_INIT = 1,		/* parameters, index = position in the fused buffer */
	PROXY_STREAM_TEACHER = 2,	/* teacher head [classes x width] */
	PROXY_STREAM_TEACHER_A = 3,	/* teacher token table, current token */
	PROXY_STREAM_TEACHER_B = 4,	/* teacher token table, previous token */
	PROXY_STREAM_IDS = 5,		/* data: token / item ids */
	PROXY_STREAM_LATENT = 6,	/* data: image latent grid */
	PROXY_STREAM_NOISE = 7,		/* data: image pixel noise */
	PROXY_STREAM_FRAMES = 8,	/* data: dense frames */
};

/* How one parameter starts. */
enum { PROXY_INIT_NORMAL = 0, PROXY_INIT_ZERO = 1, PROXY_INIT_ONE = 2 };

PROXY_HD uint64_t proxy_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

PROXY_HD uint64_t proxy_rng_u64(uint64_t key, uint64_t stream, uint64_t i)
{
	return proxy_mix(key ^ proxy_mix(stream * 0xd1b54a32d192ed03ull ^ proxy_mix(i)));
}

/* The key of one micro-batch: global task `task` of round `round`. */
PROXY_HD uint64_t proxy_batch_key(uint64_t seed, uint64_t round, uint64_t task)
{
	return proxy_mix(seed ^ proxy_mix(round * 0x8cb92ba72f3d8dd7ull ^ proxy_mix(task + 1)));
}

/* Standard normal (Box-Muller) in double; the kernels use the float twin. */
PROXY_HD double proxy_rng_normal(uint64_t key, uint64_t stream, uint64_t i)
{
	uint64_t a = proxy_rng_u64(key, stream, i), b = proxy_mix(a);
	double u1 = (double)((a >> 11) + 1) * 0x1.0p-53;
	double u2 = (double)(b >> 11) * 0x1.0p-53;

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#ifdef __CUDACC__
static __device__ __forceinline__ float proxy_rng_normalf(uint64_t key, uint64_t stream, uint64_t i)
{
	uint64_t a = proxy_rng_u64(key, stream, i), b = proxy_mix(a);
	float u1 = (float)((a >> 40) + 1) * 0x1.0p-24f;
	float u2 = (float)(b >> 40) * 0x1.0p-24f;

	return sqrtf(-2.0f * __logf(u1)) * __cosf(6.2831853f * u2);
}
#endif

/* Initial value rule of parameter j of layer l (j counts from the slice). */
PROXY_HD int proxy_param_init(const struct proxy_layer *l, uint64_t j)
{
	switch (l->op) {
	case PROXY_OP_LINEAR:
		return j < (uint64_t)l->out * l->in ? PROXY_INIT_NORMAL : PROXY_INIT_ZERO;
	case PROXY_OP_CONV:
		return j < (uint64_t)l->cout * l->k * l->k * l->cin ? PROXY_INIT_NORMAL : PROXY_INIT_ZERO;
	case PROXY_OP_LAYERNORM:
		return j < l->out ? PROXY_INIT_ONE : PROXY_INIT_ZERO;
	case PROXY_OP_LSTM: {
		uint64_t w = 4ull * l->dim * (l->in + l->dim);

		if (j < w)
			return PROXY_INIT_NORMAL;
		/* forget-gate bias 1, the others 0 */
		return j - w >= l->dim && j - w < 2ull * l->dim ? PROXY_INIT_ONE : PROXY_INIT_ZERO;
	}
	default:
		return PROXY_INIT_NORMAL;
	}
}

#endif
