/* SPDX-License-Identifier: MIT */
/* CPU stand-in for the cuBLAS calls of the worker's engine: plain
 * column-major loops, written from the cuBLAS reference semantics. */
#ifndef HARE_EMU_CUBLAS_H
#define HARE_EMU_CUBLAS_H

#include "cuda_runtime.h"

typedef struct emu_blas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0 } cublasMath_t;

cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
			   int k, const float *alpha, const float *a, int lda, const float *b, int ldb,
			   const float *beta, float *c, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
					 int m, int n, int k, const float *alpha, const float *a,
					 int lda, long long sa, const float *b, int ldb, long long sb,
					 const float *beta, float *c, int ldc, long long sc, int batch);
cublasStatus_t cublasSgemv(cublasHandle_t h, cublasOperation_t t, int m, int n, const float *alpha,
			   const float *a, int lda, const float *x, int incx, const float *beta,
			   float *y, int incy);

#endif
