/* SPDX-License-Identifier: MIT */
/* The CPU stand-in's runtime: kernels run block by block, each CUDA thread
 * a fiber, in an order that changes from launch to launch;
 * __syncthreads and warp shuffles are barriers among the block's live
 * fibers. Memory is host memory, streams are synchronous,
 * cuBLAS is plain column-major loops, NCCL ranks are processes sharing
 * memory. */
/* Fibers are switched with _longjmp between stacks, which glibc's fortified
 * longjmp refuses ("longjmp causes uninitialized stack frame"). */
#undef _FORTIFY_SOURCE
#include "cublas_v2.h"
#include "cuda_runtime.h"
#include "nccl.h"

#include <atomic>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <setjmp.h>
#include <ucontext.h>

dim3 emu_tid, emu_bid, emu_bdim, emu_gdim;

#define EMU_STACK (64 * 1024)
#define EMU_MAX_THREADS 1024

/* A fiber is made once per thread slot (makecontext, whose switches cost a
 * signal-mask system call each) and from then on switched with
 * _setjmp/_longjmp, which save no signal mask: a launch costs no system
 * call. Each fiber loops forever: run the body, mark done, park. */
struct emu_fiber {
	jmp_buf jb;
	bool made;
	bool done;
};

static jmp_buf emu_sched;
static emu_fiber emu_fibers[EMU_MAX_THREADS];
static char *emu_stacks;
static unsigned emu_cur;
static emu_body_fn emu_body;
static void *emu_arg;
static cudaError_t emu_last = cudaSuccess;
static uint64_t emu_launches;

/* The k-th of n threads or blocks to run: a GPU promises no order among
 * them, so each launch takes another rotation and direction, and code that
 * depends on an order (e.g. of atomics) gives different results from run
 * to run, which the resume check sees. */
static unsigned emu_order(unsigned k, unsigned n)
{
	uint64_t h = (emu_launches + 1) * 0x9e3779b97f4a7c15ull;
	unsigned rot = (unsigned)((h >> 32) % n);

	return emu_launches & 1 ? (rot + k) % n : (rot + n - k) % n;
}

/* Back to the scheduler; returns when the scheduler resumes this fiber. */
static void emu_yield(void)
{
	if (!_setjmp(emu_fibers[emu_cur].jb))
		_longjmp(emu_sched, 1);
}

static void emu_fiber_main(void)
{
	unsigned me = emu_cur;

	emu_yield(); /* made: park until the first launch */
	for (;;) {
		emu_body(emu_arg);
		emu_fibers[me].done = true;
		emu_yield();
	}
}

void __syncthreads(void)
{
	emu_yield();
}

float __shfl_xor_sync(unsigned mask, float v, int lane_mask)
{
	static float slot[EMU_MAX_THREADS];
	unsigned me = emu_cur;
	float r;

	(void)mask;
	slot[me] = v;
	__syncthreads();
	r = slot[me ^ (unsigned)lane_mask];
	__syncthreads();
	return r;
}

int atomicAdd(int *p, int v)
{
	int old = *p;

	*p = old + v;
	return old;
}

/* Thread slot i's fiber, made on first use: it parks at once. */
static void emu_make(unsigned i)
{
	ucontext_t here, ctx;

	getcontext(&ctx);
	ctx.uc_stack.ss_sp = emu_stacks + (size_t)i * EMU_STACK;
	ctx.uc_stack.ss_size = EMU_STACK;
	ctx.uc_link = NULL; /* never returns */
	makecontext(&ctx, emu_fiber_main, 0);
	emu_cur = i;
	if (!_setjmp(emu_sched))
		swapcontext(&here, &ctx);
	emu_fibers[i].made = true;
}

/* Run one block: every live fiber to its next barrier, until all end. */
static void emu_block(unsigned block)
{
	bool live = true;

	for (unsigned i = 0; i < block; i++) {
		if (!emu_fibers[i].made)
			emu_make(i);
		emu_fibers[i].done = false;
	}
	while (live) {
		live = false;
		for (unsigned k = 0; k < block; k++) {
			unsigned i = emu_order(k, block);

			if (emu_fibers[i].done)
				continue;
			emu_cur = i;
			emu_tid = dim3(i);
			if (!_setjmp(emu_sched))
				_longjmp(emu_fibers[i].jb, 1);
			live |= !emu_fibers[i].done;
		}
	}
}

void emu_run(unsigned grid, unsigned block, emu_body_fn body, void *arg)
{
	if (block == 0 || block > EMU_MAX_THREADS || grid == 0) {
		emu_last = cudaErrorInvalidValue;
		return;
	}
	if (!emu_stacks)
		emu_stacks = (char *)malloc((size_t)EMU_MAX_THREADS * EMU_STACK);
	emu_body = body;
	emu_arg = arg;
	emu_gdim = dim3(grid);
	emu_bdim = dim3(block);
	for (unsigned b = 0; b < grid; b++) {
		emu_bid = dim3(emu_order(b, grid));
		emu_block(block);
	}
	emu_launches++;
}

/* ---- runtime ---- */

struct emu_event {
	double t;
};

static double emu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
	(void)dev;
	snprintf(p->name, sizeof(p->name), "CPU emulation");
	p->totalGlobalMem = (size_t)1 << 32;
	return cudaSuccess;
}

cudaError_t cudaSetDevice(int dev) { return dev == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned f) { (void)f; *s = (cudaStream_t)1; return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaStreamQuery(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaStreamDestroy(cudaStream_t s) { (void)s; return cudaSuccess; }

cudaError_t cudaMalloc(void **p, size_t bytes)
{
	/* garbage, as device memory is: a missing initialisation shows */
	*p = malloc(bytes ? bytes : 1);
	if (*p)
		memset(*p, 0x7f, bytes);
	return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}

cudaError_t cudaMallocHost(void **p, size_t bytes) { return cudaMalloc(p, bytes); }
cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }

cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t st)
{
	(void)k, (void)st;
	memmove(d, s, n);
	return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t st)
{
	(void)st;
	memset(p, v, n);
	return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = new emu_event{ 0 }; return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) { (void)s; e->t = emu_now(); return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t e) { (void)e; return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) { *ms = (float)((b->t - a->t) * 1e3); return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }

cudaError_t cudaGetLastError(void)
{
	cudaError_t e = emu_last;

	emu_last = cudaSuccess;
	return e;
}

const char *cudaGetErrorString(cudaError_t e)
{
	return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory" : "invalid value";
}

/* ---- cuBLAS (column-major) ---- */

cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = (cublasHandle_t)1; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t h) { (void)h; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { (void)h, (void)s; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h, (void)m; return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) { return s ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_SUCCESS"; }

/* op(A) is m x k: A[i + p lda] (N) or A[p + i lda] (T). */
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			   int k, const float *alpha, const float *a, int lda, const float *b, int ldb,
			   const float *beta, float *c, int ldc)
{
	(void)h;
	if (m < 0 || n < 0 || k < 0 || lda < (ta ? k : m) || ldb < (tb ? n : k) || ldc < m)
		return CUBLAS_STATUS_INVALID_VALUE;
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			double s = 0;

			for (int p = 0; p < k; p++)
				s += (double)(ta ? a[p + (size_t)i * lda] : a[i + (size_t)p * lda]) *
				     (tb ? b[j + (size_t)p * ldb] : b[p + (size_t)j * ldb]);
			c[i + (size_t)j * ldc] = (float)(*alpha * s + (*beta != 0 ? *beta * c[i + (size_t)j * ldc] : 0));
		}
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
					 int m, int n, int k, const float *alpha, const float *a,
					 int lda, long long sa, const float *b, int ldb, long long sb,
					 const float *beta, float *c, int ldc, long long sc, int batch)
{
	for (int i = 0; i < batch; i++) {
		cublasStatus_t s = cublasSgemm(h, ta, tb, m, n, k, alpha, a + i * sa, lda, b + i * sb, ldb,
					       beta, c + i * sc, ldc);
		if (s)
			return s;
	}
	return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemv(cublasHandle_t h, cublasOperation_t t, int m, int n, const float *alpha,
			   const float *a, int lda, const float *x, int incx, const float *beta,
			   float *y, int incy)
{
	(void)h;
	if (t != CUBLAS_OP_N || lda < m)
		return CUBLAS_STATUS_INVALID_VALUE;
	for (int i = 0; i < m; i++) {
		double s = 0;

		for (int j = 0; j < n; j++)
			s += (double)a[i + (size_t)j * lda] * x[(size_t)j * incx];
		y[(size_t)i * incy] = (float)(*alpha * s + (*beta != 0 ? *beta * y[(size_t)i * incy] : 0));
	}
	return CUBLAS_STATUS_SUCCESS;
}

/* ---- NCCL: ranks are processes sharing a POSIX shared-memory segment ----
 * named after the unique id. Collectives run at the call (streams are
 * synchronous): each rank copies its buffer into its slot, a barrier, each
 * reads what it needs (sums in rank order, so every rank gets the same
 * bits), a barrier before the slots are reused. Ranks must call the same
 * collectives in the same order, as with NCCL; a group is just its calls in
 * order. A peer that does not arrive within HARE_EMU_NCCL_TIMEOUT_S
 * (default 120) s fails the call with ncclRemoteError. One rank copies in place, at any size;
 * ncclCommInitAll takes one rank only (ranks are processes). */

#define EMU_NCCL_MAGIC 0x4e43434cu
#define EMU_NCCL_HEADER 4096

struct emu_shared {
	std::atomic<uint32_t> ready;	/* EMU_NCCL_MAGIC once rank 0 set it up */
	std::atomic<uint32_t> arrived;	/* at the barrier of generation gen */
	std::atomic<uint32_t> gen;
	uint32_t nranks;
	uint64_t cap;			/* bytes of each rank's slot */
};

struct emu_comm {
	emu_shared *sh;
	unsigned char *slots;
	size_t map_len;
	int rank, n;
};

static const char *emu_nccl_why = "success";

static double emu_nccl_timeout(void)
{
	const char *e = getenv("HARE_EMU_NCCL_TIMEOUT_S");

	return e && atof(e) > 0 ? atof(e) : 120.0;
}

static ncclResult_t emu_nccl_fail(ncclResult_t r, const char *why)
{
	emu_nccl_why = why;
	return r;
}

static ncclResult_t emu_barrier(emu_comm *c)
{
	uint32_t g = c->sh->gen.load();
	double end = emu_now() + emu_nccl_timeout();

	if (c->sh->arrived.fetch_add(1) + 1 == (uint32_t)c->n) {
		c->sh->arrived.store(0);
		c->sh->gen.fetch_add(1);
		return ncclSuccess;
	}
	while (c->sh->gen.load() == g) {
		if (emu_now() > end)
			/* a dead peer, as NCCL reports one */
			return emu_nccl_fail(ncclRemoteError, "a peer did not arrive (emulation timeout)");
		usleep(20);
	}
	return ncclSuccess;
}

static unsigned char *emu_slot(emu_comm *c, int rank) { return c->slots + (size_t)rank * c->sh->cap; }

static void emu_shm_name(const ncclUniqueId *id, char *name, size_t len)
{
	int n = snprintf(name, len, "/hare-emu-nccl-");

	for (int i = 0; i < 16 && n + 2 < (int)len; i++)
		n += snprintf(name + n, len - n, "%02x", (unsigned char)id->internal[i]);
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
	FILE *f = fopen("/dev/urandom", "rb");
	size_t got = f ? fread(id->internal, 1, sizeof(id->internal), f) : 0;

	if (f)
		fclose(f);
	return got == sizeof(id->internal) ? ncclSuccess
		: emu_nccl_fail(ncclSystemError, "cannot read /dev/urandom");
}

ncclResult_t ncclCommInitRank(ncclComm_t *out, int n, ncclUniqueId id, int rank)
{
	const char *e = getenv("HARE_EMU_NCCL_BYTES");
	uint64_t cap = e && atoll(e) > 0 ? (uint64_t)atoll(e) : (uint64_t)64 << 20;
	double end = emu_now() + emu_nccl_timeout();
	char name[64];
	emu_comm *c;
	void *m;
	int fd;

	if (n < 1 || rank < 0 || rank >= n)
		return emu_nccl_fail(ncclInvalidUsage, "bad rank or rank count");
	emu_shm_name(&id, name, sizeof(name));
	c = (emu_comm *)calloc(1, sizeof(*c));
	fd = shm_open(name, O_CREAT | O_RDWR, 0600);
	if (!c || fd < 0) {
		free(c);
		return emu_nccl_fail(ncclSystemError, "shm_open failed");
	}
	c->map_len = EMU_NCCL_HEADER + (size_t)n * cap;
	if (ftruncate(fd, (off_t)c->map_len) < 0 ||
	    (m = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		close(fd);
		free(c);
		return emu_nccl_fail(ncclSystemError, "cannot map the shared segment");
	}
	close(fd);
	c->sh = (emu_shared *)m;
	c->slots = (unsigned char *)m + EMU_NCCL_HEADER;
	c->rank = rank;
	c->n = n;
	if (rank == 0) {
		c->sh->nranks = (uint32_t)n;
		c->sh->cap = cap;
		c->sh->ready.store(EMU_NCCL_MAGIC);
	}
	while (c->sh->ready.load() != EMU_NCCL_MAGIC) {
		if (emu_now() > end) {
			munmap(m, c->map_len);
			free(c);
			return emu_nccl_fail(ncclSystemError, "rank 0 did not come (emulation timeout)");
		}
		usleep(100);
	}
	if (c->sh->nranks != (uint32_t)n || c->sh->cap != cap) {
		munmap(m, c->map_len);
		free(c);
		return emu_nccl_fail(ncclInvalidUsage, "ranks disagree on the rank count");
	}
	/* once every rank has it mapped, the name can go */
	if (ncclResult_t br = emu_barrier(c); br != ncclSuccess) {
		munmap(m, c->map_len);
		free(c);
		return br;
	}
	if (rank == 0)
		shm_unlink(name);
	*out = c;
	return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t *c, int n, const int *d)
{
	ncclUniqueId id;

	(void)d;
	if (n != 1)
		return emu_nccl_fail(ncclInvalidUsage, "ncclCommInitAll: one rank only (ranks are "
				     "processes)");
	if (ncclGetUniqueId(&id) != ncclSuccess)
		return ncclSystemError;
	return ncclCommInitRank(c, 1, id, 0);
}

static void emu_comm_free(ncclComm_t c)
{
	if (!c)
		return;
	munmap(c->sh, c->map_len);
	free(c);
}

ncclResult_t ncclCommDestroy(ncclComm_t c) { emu_comm_free(c); return ncclSuccess; }
ncclResult_t ncclCommAbort(ncclComm_t c) { emu_comm_free(c); return ncclSuccess; }
ncclResult_t ncclCommGetAsyncError(ncclComm_t c, ncclResult_t *e) { (void)c; *e = ncclSuccess; return ncclSuccess; }

static size_t emu_size(ncclDataType_t t) { return t == ncclUint64 ? 8 : 4; }

static ncclResult_t emu_fits(emu_comm *c, size_t bytes)
{
	return bytes <= c->sh->cap ? ncclSuccess
		: emu_nccl_fail(ncclInvalidUsage, "buffer larger than HARE_EMU_NCCL_BYTES");
}

ncclResult_t ncclAllReduce(const void *s, void *r, size_t n, ncclDataType_t t, ncclRedOp_t op,
			   ncclComm_t c, cudaStream_t st)
{
	size_t bytes = n * emu_size(t);

	(void)op, (void)st;
	if (c->n == 1) {
		memmove(r, s, bytes);
		return ncclSuccess;
	}
	if (emu_fits(c, bytes) != ncclSuccess)
		return ncclInvalidUsage;
	memcpy(emu_slot(c, c->rank), s, bytes);
	if (ncclResult_t br = emu_barrier(c); br != ncclSuccess)
		return br;
	for (size_t i = 0; i < n; i++) {
		if (t == ncclFloat) {
			float acc = ((const float *)emu_slot(c, 0))[i];

			for (int k = 1; k < c->n; k++)
				acc += ((const float *)emu_slot(c, k))[i];
			((float *)r)[i] = acc;
		} else if (t == ncclInt32) {
			int32_t acc = 0;

			for (int k = 0; k < c->n; k++)
				acc += ((const int32_t *)emu_slot(c, k))[i];
			((int32_t *)r)[i] = acc;
		} else {
			uint64_t acc = 0;

			for (int k = 0; k < c->n; k++)
				acc += ((const uint64_t *)emu_slot(c, k))[i];
			((uint64_t *)r)[i] = acc;
		}
	}
	return emu_barrier(c);
}

ncclResult_t ncclAllGather(const void *s, void *r, size_t n, ncclDataType_t t, ncclComm_t c, cudaStream_t st)
{
	size_t bytes = n * emu_size(t);

	(void)st;
	if (c->n == 1) {
		memmove(r, s, bytes);
		return ncclSuccess;
	}
	if (emu_fits(c, bytes) != ncclSuccess)
		return ncclInvalidUsage;
	memmove(emu_slot(c, c->rank), s, bytes);
	if (ncclResult_t br = emu_barrier(c); br != ncclSuccess)
		return br;
	for (int k = 0; k < c->n; k++)
		memmove((unsigned char *)r + (size_t)k * bytes, emu_slot(c, k), bytes);
	return emu_barrier(c);
}

ncclResult_t ncclBroadcast(const void *s, void *r, size_t n, ncclDataType_t t, int root, ncclComm_t c,
			   cudaStream_t st)
{
	size_t bytes = n * emu_size(t);

	(void)st;
	if (root < 0 || root >= c->n)
		return emu_nccl_fail(ncclInvalidUsage, "bad root");
	if (c->n == 1) {
		memmove(r, s, bytes);
		return ncclSuccess;
	}
	if (emu_fits(c, bytes) != ncclSuccess)
		return ncclInvalidUsage;
	if (c->rank == root)
		memmove(emu_slot(c, root), s, bytes);
	if (ncclResult_t br = emu_barrier(c); br != ncclSuccess)
		return br;
	memmove(r, emu_slot(c, root), bytes);
	return emu_barrier(c);
}

ncclResult_t ncclGroupStart(void) { return ncclSuccess; }
ncclResult_t ncclGroupEnd(void) { return ncclSuccess; }
const char *ncclGetErrorString(ncclResult_t r) { return r ? emu_nccl_why : "success"; }
