/* SPDX-License-Identifier: MIT */
/* A CPU stand-in for the parts of the CUDA runtime the worker's engine uses,
 * so tests/gpu/emulate.sh can run the engine's real .cu code (kernels as
 * fibers, one per CUDA thread, __syncthreads as a barrier) without a GPU.
 * Slow and single-threaded: for checking logic on tiny sizes only. */
#ifndef HARE_EMU_CUDA_RUNTIME_H
#define HARE_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static

struct dim3 {
	unsigned x, y, z;
	dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

extern dim3 emu_tid, emu_bid, emu_bdim, emu_gdim;
#define threadIdx emu_tid
#define blockIdx emu_bid
#define CUDART_VERSION 13000
#define blockDim emu_bdim
#define gridDim emu_gdim

typedef enum {
	cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidValue = 1,
	cudaErrorInsufficientDriver = 35, cudaErrorNotReady = 600
} cudaError_t;
typedef enum {
	cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice
} cudaMemcpyKind;
typedef struct emu_stream *cudaStream_t;
typedef struct emu_event *cudaEvent_t;
#define cudaStreamNonBlocking 1

struct cudaDeviceProp {
	char name[256];
	size_t totalGlobalMem;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaSetDevice(int dev);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamQuery(cudaStream_t s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k, cudaStream_t s);
cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaGetLastError(void);
const char *cudaGetErrorString(cudaError_t e);

/* device intrinsics */
void __syncthreads(void);
float __shfl_xor_sync(unsigned mask, float v, int lane_mask);
int atomicAdd(int *p, int v);
#define __logf(v) logf(v)
#define __cosf(v) cosf(v)
#define __expf(v) expf(v)
static inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }

/* k<<<grid, block, shm, stream>>>(args) is rewritten to
 * emu_launch(grid, block, shm, stream, k)(args) by emulate.sh. */
typedef void (*emu_body_fn)(void *);
void emu_run(unsigned grid, unsigned block, emu_body_fn body, void *arg);

template <class... A> struct emu_launcher {
	unsigned g, b;
	void (*k)(A...);
	template <class... B> void operator()(B... args)
	{
		auto call = [&]() { k(static_cast<A>(args)...); };
		using call_t = decltype(call);
		emu_run(g, b, [](void *p) { (*static_cast<call_t *>(p))(); }, &call);
	}
};

template <class... A>
emu_launcher<A...> emu_launch(unsigned g, unsigned b, size_t shm, cudaStream_t st, void (*k)(A...))
{
	(void)shm;
	(void)st;
	return emu_launcher<A...>{ g, b, k };
}

#endif
