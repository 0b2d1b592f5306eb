/* SPDX-License-Identifier: MIT */
/* The CUDA engine's executor: device buffers of a proxy net, and every
 * layer's forward and backward as cuBLAS GEMMs (row-major helpers over
 * column-major cuBLAS) plus the kernels of cuda_kernels.cu. It computes what
 * proxy_ref.c defines; tests/gpu checks one against the other. */
#include "cuda_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cu_fail(struct cu_net *c, int code, const char *file, int line, const char *what, const char *why)
{
	const char *base = strrchr(file, '/');

	c->failed = true;
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%d: %.120s: %s", base ? base + 1 : file, line, what, why);
	return code;
}

/* ---- row-major GEMM helpers: C[M x N] = alpha op(A) op(B) + beta C ---- */

static void cu_log(struct cu_net *c, const struct cu_gemm_rec *r)
{
	if (!c->logging)
		return;
	if (c->nlog == c->caplog) {
		uint32_t cap = c->caplog ? 2 * c->caplog : 256;
		struct cu_gemm_rec *g = (struct cu_gemm_rec *)realloc(c->log, cap * sizeof(*g));

		if (!g)
			return;
		c->log = g;
		c->caplog = cap;
	}
	c->log[c->nlog++] = *r;
}

/* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS
 * gets B first, with the transposes swapped over. */
static int cu_gemm(struct cu_net *c, bool ta, bool tb, int m, int n, int k, float alpha,
		   const float *a, int lda, const float *b, int ldb, float beta, float *cm, int ldc)
{
	struct cu_gemm_rec r = { ta, tb, m, n, k, lda, ldb, ldc, 1, 0, 0, 0, alpha, beta };

	cu_log(c, &r);
	CU_BLAS(c, cublasSgemm(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
			       n, m, k, &alpha, b, ldb, a, lda, &beta, cm, ldc));
	return 0;
}

static int cu_gemm_batched(struct cu_net *c, bool ta, bool tb, int m, int n, int k, float alpha,
			   const float *a, int lda, long long sa, const float *b, int ldb, long long sb,
			   float beta, float *cm, int ldc, long long sc, int batch)
{
	struct cu_gemm_rec r = { ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, alpha, beta };

	cu_log(c, &r);
	CU_BLAS(c, cublasSgemmStridedBatched(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
					     ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb, sb,
					     a, lda, sa, &beta, cm, ldc, sc, batch));
	return 0;
}

/* out[cols] += column sums of row-major y[rows x cols] (y^T times ones). */
static int cu_colsum(struct cu_net *c, uint64_t rows, uint32_t cols, const float *y, float *out)
{
	const float one = 1.0f;

	if (rows > c->ones_len)
		return cu_fail(c, -EINVAL, __FILE__, __LINE__, "column sum", "more rows than the ones vector");
	CU_BLAS(c, cublasSgemv(c->blas, CUBLAS_OP_N, (int)cols, (int)rows, &one, y, (int)cols, c->ones,
			       1, &one, out, 1));
	return 0;
}

/* ---- layers ---- */

static int cu_linear_fwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
			 float *y)
{
	CU_TRY(cu_gemm(c, false, true, l->rows, l->out, l->in, 1, x, l->in, p, l->in, 0, y, l->out));
	cu_k_bias_add(c->st, y, p + (uint64_t)l->out * l->in, l->rows, l->out);
	return 0;
}

static int cu_linear_bwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
			 const float *dy, float *dx, float *dp)
{
	CU_TRY(cu_gemm(c, true, false, l->out, l->in, l->rows, 1, dy, l->out, x, l->in, 1, dp, l->in));
	CU_TRY(cu_colsum(c, l->rows, l->out, dy, dp + (uint64_t)l->out * l->in));
	if (dx)
		CU_TRY(cu_gemm(c, false, false, l->rows, l->in, l->out, 1, dy, l->out, p, l->in, 0, dx, l->in));
	return 0;
}

static bool cu_conv_is_1x1(const struct proxy_layer *l)
{
	return l->k == 1 && l->stride == 1 && l->pad == 0;
}

static int cu_conv_fwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
		       float *y)
{
	int rows = (int)((uint64_t)l->n * l->oh * l->ow), kk = (int)(l->k * l->k * l->cin);
	const float *col = x;

	if (!cu_conv_is_1x1(l)) {
		cu_k_im2col(c->st, x, c->col, l);
		col = c->col;
	}
	CU_TRY(cu_gemm(c, false, true, rows, l->cout, kk, 1, col, kk, p, kk, 0, y, l->cout));
	cu_k_bias_add(c->st, y, p + (uint64_t)l->cout * kk, rows, l->cout);
	return 0;
}

static int cu_conv_bwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
		       const float *dy, float *dx, float *dp)
{
	int rows = (int)((uint64_t)l->n * l->oh * l->ow), kk = (int)(l->k * l->k * l->cin);
	bool direct = cu_conv_is_1x1(l);
	const float *col = x;

	if (!direct) {
		cu_k_im2col(c->st, x, c->col, l);	/* recomputed: cheaper than keeping it */
		col = c->col;
	}
	CU_TRY(cu_gemm(c, true, false, l->cout, kk, rows, 1, dy, l->cout, col, kk, 1, dp, kk));
	CU_TRY(cu_colsum(c, (uint64_t)rows, l->cout, dy, dp + (uint64_t)l->cout * kk));
	if (!dx)
		return 0;
	CU_TRY(cu_gemm(c, false, false, rows, kk, l->cout, 1, dy, l->cout, p, kk, 0,
		       direct ? dx : c->dcol, kk));
	if (!direct)
		cu_k_col2im(c->st, c->dcol, dx, l);
	return 0;
}

/* Attention: per head, batched over samples; P kept per head as [h][n][t][t]. */
static int cu_attn_fwd(struct cu_net *c, const struct proxy_layer *l, const float *x, float *y,
		       float *save)
{
	int t = (int)l->seq, d = (int)l->dim, dh = d / (int)l->heads, n = (int)l->n;
	long long tt = (long long)t * t, row3 = (long long)t * 3 * d, row = (long long)t * d;
	float scale = 1.0f / sqrtf((float)dh);

	for (uint32_t h = 0; h < l->heads; h++) {
		const float *q = x + h * dh, *k = x + d + h * dh, *v = x + 2 * d + h * dh;
		float *ph = save + (uint64_t)h * n * tt;

		CU_TRY(cu_gemm_batched(c, false, true, t, t, dh, scale, q, 3 * d, row3, k, 3 * d, row3, 0,
				       ph, t, tt, n));
		cu_k_softmax(c->st, ph, (uint64_t)n * t, (uint32_t)t);
		CU_TRY(cu_gemm_batched(c, false, false, t, dh, t, 1, ph, t, tt, v, 3 * d, row3, 0,
				       y + h * dh, d, row, n));
	}
	return 0;
}

static int cu_attn_bwd(struct cu_net *c, const struct proxy_layer *l, const float *x,
		       const float *save, const float *dy, float *dx)
{
	int t = (int)l->seq, d = (int)l->dim, dh = d / (int)l->heads, n = (int)l->n;
	long long tt = (long long)t * t, row3 = (long long)t * 3 * d, row = (long long)t * d;
	float scale = 1.0f / sqrtf((float)dh);

	for (uint32_t h = 0; h < l->heads; h++) {
		const float *q = x + h * dh, *k = x + d + h * dh, *v = x + 2 * d + h * dh;
		const float *ph = save + (uint64_t)h * n * tt, *dyh = dy + h * dh;

		/* dP = dO V^T, dV = P^T dO, dS = softmax'(dP), dQ = s dS K, dK = s dS^T Q */
		CU_TRY(cu_gemm_batched(c, false, true, t, t, dh, 1, dyh, d, row, v, 3 * d, row3, 0,
				       c->scores, t, tt, n));
		CU_TRY(cu_gemm_batched(c, true, false, t, dh, t, 1, ph, t, tt, dyh, d, row, 0,
				       dx + 2 * d + h * dh, 3 * d, row3, n));
		cu_k_softmax_bwd(c->st, ph, c->scores, (uint64_t)n * t, (uint32_t)t);
		CU_TRY(cu_gemm_batched(c, false, false, t, dh, t, scale, c->scores, t, tt, k, 3 * d, row3,
				       0, dx + h * dh, 3 * d, row3, n));
		CU_TRY(cu_gemm_batched(c, true, false, t, dh, t, scale, c->scores, t, tt, q, 3 * d, row3,
				       0, dx + d + h * dh, 3 * d, row3, n));
	}
	return 0;
}

static int cu_lstm_fwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
		       float *y, float *save)
{
	int n = (int)l->n, h = (int)l->dim, in = (int)l->in, rows = (int)(l->seq * l->n);
	const float *wih = p, *whh = p + 4ull * h * in, *b = whh + 4ull * h * h;
	float *gates = save, *cells = save + 4ull * h * rows;

	CU_TRY(cu_gemm(c, false, true, rows, 4 * h, in, 1, x, in, wih, in, 0, gates, 4 * h));
	cu_k_bias_add(c->st, gates, b, (uint64_t)rows, 4 * h);
	for (uint32_t t = 0; t < l->seq; t++) {
		if (t > 0)
			CU_TRY(cu_gemm(c, false, true, n, 4 * h, h, 1, y + (uint64_t)(t - 1) * n * h, h, whh,
				       h, 1, gates + (uint64_t)t * n * 4 * h, 4 * h));
		cu_k_lstm_fwd(c->st, gates, cells, y, t, (uint32_t)n, (uint32_t)h);
	}
	return 0;
}

static int cu_lstm_bwd(struct cu_net *c, const struct proxy_layer *l, const float *p, const float *x,
		       const float *y, const float *save, const float *dy, float *dx, float *dp)
{
	int n = (int)l->n, h = (int)l->dim, in = (int)l->in, rows = (int)(l->seq * l->n);
	const float *wih = p, *whh = p + 4ull * h * in, *gates = save, *cells = save + 4ull * h * rows;
	float *dwih = dp, *dwhh = dp + 4ull * h * in, *db = dwhh + 4ull * h * h;

	CU_CHECK(c, cudaMemsetAsync(c->lstm_dc, 0, (size_t)n * h * sizeof(float), c->st));
	for (uint32_t t = l->seq; t-- > 0;) {
		cu_k_lstm_bwd(c->st, gates, cells, dy, t + 1 < l->seq ? c->lstm_dh : NULL, c->lstm_dc,
			      c->lstm_dg, t, (uint32_t)n, (uint32_t)h);
		if (t > 0)
			CU_TRY(cu_gemm(c, false, false, n, h, 4 * h, 1, c->lstm_dg + (uint64_t)t * n * 4 * h,
				       4 * h, whh, h, 0, c->lstm_dh, h));
	}
	CU_TRY(cu_gemm(c, true, false, 4 * h, in, rows, 1, c->lstm_dg, 4 * h, x, in, 1, dwih, in));
	CU_TRY(cu_colsum(c, (uint64_t)rows, 4 * h, c->lstm_dg, db));
	if (l->seq > 1)
		CU_TRY(cu_gemm(c, true, false, 4 * h, h, rows - n, 1, c->lstm_dg + (uint64_t)n * 4 * h,
			       4 * h, y, h, 1, dwhh, h));
	if (dx)
		CU_TRY(cu_gemm(c, false, false, rows, in, 4 * h, 1, c->lstm_dg, 4 * h, wih, in, 0, dx, in));
	return 0;
}

static int cu_layer_fwd(struct cu_net *c, uint32_t i, float gscale)
{
	const struct proxy_layer *l = &c->net->layers[i];
	const float *in = i ? c->out[i - 1] : c->input, *p = c->params + l->param_off;
	float *y = c->out[i];

	switch (l->op) {
	case PROXY_OP_EMBED: cu_k_embed_fwd(c->st, p, c->ids, y, l); return 0;
	case PROXY_OP_POSADD: cu_k_posadd(c->st, in, p, y, l->out_size, (uint64_t)l->seq * l->dim); return 0;
	case PROXY_OP_LINEAR: return cu_linear_fwd(c, l, p, in, y);
	case PROXY_OP_RELU: cu_k_relu_fwd(c->st, in, y, l->out_size); return 0;
	case PROXY_OP_CONV: return cu_conv_fwd(c, l, p, in, y);
	case PROXY_OP_LAYERNORM: cu_k_ln_fwd(c->st, in, p, y, c->save[i], l->rows, l->out); return 0;
	case PROXY_OP_ATTENTION: return cu_attn_fwd(c, l, in, y, c->save[i]);
	case PROXY_OP_LSTM: return cu_lstm_fwd(c, l, p, in, y, c->save[i]);
	case PROXY_OP_RES_BEGIN: return 0;	/* out aliases in */
	case PROXY_OP_RES_END: cu_k_add(c->st, y, in, c->out[l->pair], l->out_size); return 0;
	case PROXY_OP_XENT:
		cu_k_xent_fwd(c->st, in, c->labels, c->save[i], c->rowloss, l->rows, l->out);
		cu_k_sum_into(c->st, c->rowloss, l->rows, gscale, y,
			      c->grads + c->net->nparams + CU_SLOT_LOSS);
		return 0;
	}
	return cu_fail(c, -EINVAL, __FILE__, __LINE__, "forward", "unknown layer");
}

/* Backward of layer i from dy; dx may be NULL (input gradient not wanted). */
static int cu_layer_bwd(struct cu_net *c, uint32_t i, float gscale, const float *dy, float *dx)
{
	const struct proxy_layer *l = &c->net->layers[i];
	const float *in = i ? c->out[i - 1] : c->input, *p = c->params + l->param_off;
	float *dp = c->grads + l->param_off;

	switch (l->op) {
	case PROXY_OP_EMBED: cu_k_embed_bwd(c->st, c, c->ids, dy, dp, l); return 0;
	case PROXY_OP_LINEAR: return cu_linear_bwd(c, l, p, in, dy, dx, dp);
	case PROXY_OP_RELU:
		if (dx)
			cu_k_relu_bwd(c->st, c->out[i], dy, dx, l->out_size);
		return 0;
	case PROXY_OP_CONV: return cu_conv_bwd(c, l, p, in, dy, dx, dp);
	case PROXY_OP_LAYERNORM:
		cu_k_ln_bwd(c->st, in, p, c->save[i], dy, dx, c->tmp, l->rows, l->out);
		CU_TRY(cu_colsum(c, l->rows, l->out, c->tmp, dp));
		return cu_colsum(c, l->rows, l->out, dy, dp + l->out);
	case PROXY_OP_ATTENTION: return dx ? cu_attn_bwd(c, l, in, c->save[i], dy, dx) : 0;
	case PROXY_OP_LSTM: return cu_lstm_bwd(c, l, p, in, c->out[i], c->save[i], dy, dx, dp);
	case PROXY_OP_XENT:
		if (dx)
			cu_k_xent_bwd(c->st, in, c->labels, c->save[i], dx, l->rows, l->out, gscale);
		return 0;
	default:
		return cu_fail(c, -EINVAL, __FILE__, __LINE__, "backward", "layer handled by the executor");
	}
}

int cu_net_run(struct cu_net *c, float gscale, const float *dout, float *dx)
{
	const struct proxy_net *net = c->net;
	const float *dcur = dout;
	uint32_t depth = 0, which = 0;

	for (uint32_t i = 0; i < net->nlayers; i++)
		CU_TRY(cu_layer_fwd(c, i, gscale));
	for (uint32_t i = net->nlayers; i-- > 0;) {
		const struct proxy_layer *l = &net->layers[i];
		float *din;

		if (l->op == PROXY_OP_RES_END) {
			/* the skip path's gradient is the output's, kept for RES_BEGIN */
			CU_CHECK(c, cudaMemcpyAsync(c->skip[depth++], dcur, l->out_size * sizeof(float),
						    cudaMemcpyDeviceToDevice, c->st));
			continue;
		}
		if (l->op == PROXY_OP_RES_BEGIN) {
			cu_k_axpy(c->st, (float *)dcur, c->skip[--depth], l->out_size);
			continue;
		}
		if (l->op == PROXY_OP_POSADD) {
			/* the input gradient is the output's; the table gets the sum over samples */
			CU_TRY(cu_colsum(c, l->n, l->seq * l->dim, dcur, c->grads + l->param_off));
			if (i == 0 && dx && l->need_dx && !net->input_ids)
				CU_CHECK(c, cudaMemcpyAsync(dx, dcur, l->out_size * sizeof(float),
							    cudaMemcpyDeviceToDevice, c->st));
			continue;
		}
		din = i > 0 ? c->g[which] : l->need_dx && !net->input_ids ? dx : NULL;
		CU_TRY(cu_layer_bwd(c, i, gscale, dcur, din));
		if (din && i > 0) {
			dcur = din;
			which ^= 1;
		}
	}
	CU_CHECK(c, cu_launch_error());
	return 0;
}

int cu_net_sgd(struct cu_net *c, float lr, float momentum, float clip)
{
	cu_k_sgd(c->st, c, lr, momentum, clip);
	return 0;
}

/* ---- allocation ---- */

static int cu_alloc(struct cu_net *c, void **p, uint64_t bytes)
{
	cudaError_t e;

	*p = NULL;
	if (bytes == 0)
		return 0;
	e = cudaMalloc(p, bytes);
	if (e != cudaSuccess) {
		char why[160];

		snprintf(why, sizeof(why), "%s (%.1f MiB more, %.1f MiB held)", cudaGetErrorString(e),
			 bytes / 1048576.0, c->mem_bytes / 1048576.0);
		return cu_fail(c, -ENOMEM, __FILE__, __LINE__, "cudaMalloc", why);
	}
	c->mem_bytes += bytes;
	return 0;
}

#define CU_ALLOC(c, ptr, count) cu_alloc((c), (void **)&(ptr), (uint64_t)(count) * sizeof(*(ptr)))

/* Sizes of the scratch buffers: the largest need over the layers. */
struct cu_sizes {
	uint64_t rows, lstm_g, lstm_h, vocab, xent_rows;
	uint32_t depth;
};

static void cu_sizes_of(const struct proxy_net *net, struct cu_sizes *s)
{
	uint32_t depth = 0;

	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < net->nlayers; i++) {
		const struct proxy_layer *l = &net->layers[i];
		uint64_t rows = l->rows;

		if (l->op == PROXY_OP_CONV)
			rows = (uint64_t)l->n * l->oh * l->ow;
		if (l->op == PROXY_OP_LSTM) {
			rows = (uint64_t)l->seq * l->n;
			s->lstm_g = rows * 4 * l->dim > s->lstm_g ? rows * 4 * l->dim : s->lstm_g;
			s->lstm_h = (uint64_t)l->n * l->dim > s->lstm_h ? (uint64_t)l->n * l->dim : s->lstm_h;
		}
		if (l->op == PROXY_OP_POSADD)
			rows = l->n;
		if (l->op == PROXY_OP_EMBED && l->vocab > s->vocab)
			s->vocab = l->vocab;
		if (l->op == PROXY_OP_XENT && l->rows > s->xent_rows)
			s->xent_rows = l->rows;
		if (l->op == PROXY_OP_RES_BEGIN && ++depth > s->depth)
			s->depth = depth;
		if (l->op == PROXY_OP_RES_END)
			depth--;
		s->rows = rows > s->rows ? rows : s->rows;
	}
}

static int cu_alloc_layers(struct cu_net *c)
{
	const struct proxy_net *net = c->net;

	c->out = (float **)calloc(net->nlayers, sizeof(float *));
	c->save = (float **)calloc(net->nlayers, sizeof(float *));
	if (!c->out || !c->save)
		return cu_fail(c, -ENOMEM, __FILE__, __LINE__, "calloc", "out of host memory");
	for (uint32_t i = 0; i < net->nlayers; i++) {
		const struct proxy_layer *l = &net->layers[i];

		if (l->op == PROXY_OP_RES_BEGIN)
			c->out[i] = i ? c->out[i - 1] : c->input;
		else
			CU_TRY(CU_ALLOC(c, c->out[i], l->out_size));
		CU_TRY(CU_ALLOC(c, c->save[i], l->save_size));
	}
	return 0;
}

static int cu_alloc_scratch(struct cu_net *c, const struct cu_sizes *s)
{
	const struct proxy_net *net = c->net;
	uint64_t act = net->max_act > net->input_size ? net->max_act : net->input_size;

	if (s->depth > CU_MAX_DEPTH)
		return cu_fail(c, -EINVAL, __FILE__, __LINE__, "net", "residual branches nested too deep");
	for (int k = 0; k < 2; k++)
		CU_TRY(CU_ALLOC(c, c->g[k], act));
	for (uint32_t k = 0; k < s->depth; k++)
		CU_TRY(CU_ALLOC(c, c->skip[k], act));
	CU_TRY(CU_ALLOC(c, c->col, net->max_col));
	CU_TRY(CU_ALLOC(c, c->dcol, net->max_col));
	CU_TRY(CU_ALLOC(c, c->tmp, act));
	CU_TRY(CU_ALLOC(c, c->scores, net->max_scores));
	CU_TRY(CU_ALLOC(c, c->lstm_dg, s->lstm_g));
	CU_TRY(CU_ALLOC(c, c->lstm_dh, s->lstm_h));
	CU_TRY(CU_ALLOC(c, c->lstm_dc, s->lstm_h));
	if (s->vocab) {
		CU_TRY(CU_ALLOC(c, c->emb_count, s->vocab + 1));
		CU_TRY(CU_ALLOC(c, c->emb_off, s->vocab + 1));
		CU_TRY(CU_ALLOC(c, c->emb_cur, s->vocab + 1));
		CU_TRY(CU_ALLOC(c, c->emb_perm, net->max_ids));
	}
	CU_TRY(CU_ALLOC(c, c->rowloss, s->xent_rows + 1));
	CU_TRY(CU_ALLOC(c, c->ones, s->rows + 1));
	c->ones_len = s->rows + 1;
	cu_k_fill(c->st, c->ones, c->ones_len, 1.0f);
	CU_TRY(CU_ALLOC(c, c->norm_partial, CU_NORM_BLOCKS));
	CU_TRY(CU_ALLOC(c, c->clip_scale, 1));
	CU_TRY(CU_ALLOC(c, c->one, 1));
	cu_k_fill(c->st, c->one, 1, 1.0f);
	return 0;
}

int cu_net_alloc(struct cu_net *c, const struct proxy_net *net, int device)
{
	struct cu_sizes s;
	uint64_t teacher;

	c->net = net;
	c->device = device;
	cu_sizes_of(net, &s);
	/* cuBLAS dimensions and the per-row kernels' grids are int */
	if (s.rows > INT_MAX)
		return cu_fail(c, -EINVAL, __FILE__, __LINE__, "net", "a layer has over 2^31 - 1 rows");
	CU_CHECK(c, cudaSetDevice(device));
	CU_CHECK(c, cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	CU_BLAS(c, cublasCreate(&c->blas));
	CU_BLAS(c, cublasSetStream(c->blas, c->st));
	/* plain FP32 (no TF32): the gradient check holds it to 1e-3 */
	CU_BLAS(c, cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH));
	CU_TRY(CU_ALLOC(c, c->params, net->nparams));
	CU_TRY(CU_ALLOC(c, c->grads, net->nparams + CU_SLOTS));
	CU_TRY(CU_ALLOC(c, c->mom, net->nparams));
	if (net->input_ids)
		CU_TRY(CU_ALLOC(c, c->ids, net->input_size));
	else
		CU_TRY(CU_ALLOC(c, c->input, net->input_size));
	CU_TRY(CU_ALLOC(c, c->labels, net->label_rows + 1));
	teacher = (uint64_t)net->classes * (net->spec.family == PROXY_RESNET
		  ? PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * net->spec.channels : PROXY_TEACHER_RANK);
	CU_TRY(CU_ALLOC(c, c->teacher, teacher ? teacher : 1));
	CU_TRY(cu_alloc_layers(c));
	CU_TRY(cu_alloc_scratch(c, &s));
	CU_CHECK(c, cudaMemsetAsync(c->grads, 0, (net->nparams + CU_SLOTS) * sizeof(float), c->st));
	CU_CHECK(c, cudaMemsetAsync(c->mom, 0, net->nparams * sizeof(float), c->st));
	return 0;
}

int cu_net_init(struct cu_net *c, uint64_t seed)
{
	const struct proxy_net *net = c->net;
	uint64_t teacher = (uint64_t)net->classes * (net->spec.family == PROXY_RESNET
			   ? PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * net->spec.channels : PROXY_TEACHER_RANK);

	/* failures of earlier calls were handled where they happened */
	(void)cudaGetLastError();
	CU_CHECK(c, cudaMemsetAsync(c->params, 0, net->nparams * sizeof(float), c->st));
	for (uint32_t i = 0; i < net->nlayers; i++)
		if (net->layers[i].nparams)
			cu_k_init_layer(c->st, c->params, &net->layers[i], seed);
	CU_CHECK(c, cudaMemsetAsync(c->mom, 0, net->nparams * sizeof(float), c->st));
	cu_k_teacher(c->st, c->teacher, teacher, seed);
	CU_CHECK(c, cu_launch_error());
	return 0;
}

void cu_net_free(struct cu_net *c)
{
	const struct proxy_net *net = c->net;
	void *bufs[] = { c->params, c->grads, c->mom, c->input, c->ids, c->labels, c->g[0], c->g[1],
			 c->col, c->dcol, c->tmp, c->scores, c->ones, c->lstm_dg, c->lstm_dh, c->lstm_dc,
			 c->emb_count, c->emb_off, c->emb_cur, c->emb_perm, c->rowloss, c->teacher,
			 c->norm_partial, c->clip_scale, c->one };

	if (c->st)
		cudaStreamSynchronize(c->st);
	for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
		cudaFree(bufs[i]);
	for (uint32_t k = 0; k < CU_MAX_DEPTH; k++)
		cudaFree(c->skip[k]);
	for (uint32_t i = 0; net && c->out && i < net->nlayers; i++) {
		if (net->layers[i].op != PROXY_OP_RES_BEGIN)
			cudaFree(c->out[i]);
		cudaFree(c->save ? c->save[i] : NULL);
	}
	free(c->out);
	free(c->save);
	free(c->log);
	if (c->blas)
		cublasDestroy(c->blas);
	if (c->st)
		cudaStreamDestroy(c->st);
	memset(c, 0, sizeof(*c));
}
