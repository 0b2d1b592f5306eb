/* SPDX-License-Identifier: MIT */
/* The CUDA engine's small kernels: element-wise ops, im2col/col2im,
 * LayerNorm, softmax, LSTM cell steps, embeddings, cross-entropy, momentum
 * SGD with clipping, and the synthetic data with its teacher. Every
 * reduction has a fixed order and no float atomics, so a run is
 * reproducible bit for bit (a resumed job repeats its loss trajectory). */
#include "cuda_internal.h"
#include "proxy_ref.h"
#include "proxy_rng.h"

#define T 256			/* threads per block */
#define GRID_LOOP(i, n) \
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < (n); \
	     i += (uint64_t)gridDim.x * blockDim.x)

static unsigned cu_grid(uint64_t n)
{
	uint64_t b = (n + T - 1) / T;

	return b == 0 ? 1 : b > (1u << 20) ? (1u << 20) : (unsigned)b;
}

__device__ static float cu_block_sum(float v, float *sh)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (unsigned s = T / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			sh[threadIdx.x] += sh[threadIdx.x + s];
		__syncthreads();
	}
	v = sh[0];
	__syncthreads();
	return v;
}

__device__ static float cu_block_max(float v, float *sh)
{
	sh[threadIdx.x] = v;
	__syncthreads();
	for (unsigned s = T / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s)
			sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
		__syncthreads();
	}
	v = sh[0];
	__syncthreads();
	return v;
}

__device__ static float cu_warp_sum(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

__device__ static float cu_warp_max(float v)
{
	for (int o = 16; o > 0; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* ---- element-wise ---- */

__global__ static void k_fill(float *p, uint64_t n, float v)
{
	GRID_LOOP(i, n) p[i] = v;
}

void cu_k_fill(cudaStream_t st, float *p, uint64_t n, float v)
{
	k_fill<<<cu_grid(n), T, 0, st>>>(p, n, v);
}

__global__ static void k_init_layer(float *p, struct proxy_layer l, uint64_t seed)
{
	GRID_LOOP(j, l.nparams) {
		int kind = proxy_param_init(&l, j);

		p[j] = kind == PROXY_INIT_ONE ? 1.0f : kind == PROXY_INIT_ZERO ? 0.0f
		     : l.init_std * proxy_rng_normalf(seed, PROXY_STREAM_INIT, l.param_off + j);
	}
}

void cu_k_init_layer(cudaStream_t st, float *params, const struct proxy_layer *l, uint64_t seed)
{
	k_init_layer<<<cu_grid(l->nparams), T, 0, st>>>(params + l->param_off, *l, seed);
}

__global__ static void k_teacher(float *t, uint64_t n, uint64_t seed)
{
	GRID_LOOP(i, n) t[i] = proxy_rng_normalf(seed, PROXY_STREAM_TEACHER, i);
}

void cu_k_teacher(cudaStream_t st, float *t, uint64_t n, uint64_t seed)
{
	k_teacher<<<cu_grid(n), T, 0, st>>>(t, n, seed);
}

__global__ static void k_bias_add(float *y, const float *b, uint64_t n, uint32_t cols)
{
	GRID_LOOP(i, n) y[i] += b[i % cols];
}

void cu_k_bias_add(cudaStream_t st, float *y, const float *b, uint64_t rows, uint32_t cols)
{
	k_bias_add<<<cu_grid(rows * cols), T, 0, st>>>(y, b, rows * cols, cols);
}

__global__ static void k_add(float *y, const float *a, const float *b, uint64_t n)
{
	GRID_LOOP(i, n) y[i] = a[i] + b[i];
}

void cu_k_add(cudaStream_t st, float *y, const float *a, const float *b, uint64_t n)
{
	k_add<<<cu_grid(n), T, 0, st>>>(y, a, b, n);
}

__global__ static void k_axpy(float *y, const float *x, uint64_t n)
{
	GRID_LOOP(i, n) y[i] += x[i];
}

void cu_k_axpy(cudaStream_t st, float *y, const float *x, uint64_t n)
{
	k_axpy<<<cu_grid(n), T, 0, st>>>(y, x, n);
}

__global__ static void k_relu_fwd(const float *x, float *y, uint64_t n)
{
	GRID_LOOP(i, n) y[i] = x[i] > 0 ? x[i] : 0;
}

void cu_k_relu_fwd(cudaStream_t st, const float *x, float *y, uint64_t n)
{
	k_relu_fwd<<<cu_grid(n), T, 0, st>>>(x, y, n);
}

__global__ static void k_relu_bwd(const float *y, const float *dy, float *dx, uint64_t n)
{
	GRID_LOOP(i, n) dx[i] = y[i] > 0 ? dy[i] : 0;
}

void cu_k_relu_bwd(cudaStream_t st, const float *y, const float *dy, float *dx, uint64_t n)
{
	k_relu_bwd<<<cu_grid(n), T, 0, st>>>(y, dy, dx, n);
}

/* ---- convolution: col[(n, oy, ox)][(ky, kx, ci)], NHWC ---- */

__global__ static void k_im2col(const float *x, float *col, struct proxy_layer l)
{
	uint64_t kk = (uint64_t)l.k * l.k * l.cin, rows = (uint64_t)l.n * l.oh * l.ow;

	GRID_LOOP(i, rows * kk) {
		uint64_t r = i / kk;
		uint32_t c = (uint32_t)(i % kk), ci = c % l.cin, kx = (c / l.cin) % l.k, ky = c / l.cin / l.k;
		uint32_t ox = (uint32_t)(r % l.ow), oy = (uint32_t)((r / l.ow) % l.oh);
		uint64_t n = r / ((uint64_t)l.ow * l.oh);
		int64_t iy = (int64_t)oy * l.stride - l.pad + ky, ix = (int64_t)ox * l.stride - l.pad + kx;

		col[i] = iy < 0 || ix < 0 || iy >= l.h || ix >= l.w ? 0.0f
		       : x[((n * l.h + (uint64_t)iy) * l.w + (uint64_t)ix) * l.cin + ci];
	}
}

void cu_k_im2col(cudaStream_t st, const float *x, float *col, const struct proxy_layer *l)
{
	uint64_t n = (uint64_t)l->n * l->oh * l->ow * l->k * l->k * l->cin;

	k_im2col<<<cu_grid(n), T, 0, st>>>(x, col, *l);
}

/* Each input element gathers the column entries that read it (no atomics). */
__global__ static void k_col2im(const float *dcol, float *dx, struct proxy_layer l)
{
	uint64_t kk = (uint64_t)l.k * l.k * l.cin, total = (uint64_t)l.n * l.h * l.w * l.cin;

	GRID_LOOP(i, total) {
		uint32_t ci = (uint32_t)(i % l.cin), ix = (uint32_t)((i / l.cin) % l.w);
		uint32_t iy = (uint32_t)((i / l.cin / l.w) % l.h);
		uint64_t n = i / ((uint64_t)l.cin * l.w * l.h);
		float s = 0;

		for (uint32_t ky = 0; ky < l.k; ky++) {
			int64_t ty = (int64_t)iy + l.pad - ky;

			if (ty < 0 || ty % l.stride || ty / l.stride >= l.oh)
				continue;
			for (uint32_t kx = 0; kx < l.k; kx++) {
				int64_t tx = (int64_t)ix + l.pad - kx;

				if (tx < 0 || tx % l.stride || tx / l.stride >= l.ow)
					continue;
				s += dcol[((n * l.oh + (uint64_t)(ty / l.stride)) * l.ow + (uint64_t)(tx / l.stride)) * kk +
					  ((uint64_t)ky * l.k + kx) * l.cin + ci];
			}
		}
		dx[i] = s;
	}
}

void cu_k_col2im(cudaStream_t st, const float *dcol, float *dx, const struct proxy_layer *l)
{
	uint64_t n = (uint64_t)l->n * l->h * l->w * l->cin;

	k_col2im<<<cu_grid(n), T, 0, st>>>(dcol, dx, *l);
}

/* ---- LayerNorm: one block per row; save = mean, rstd ---- */

__global__ static void k_ln_fwd(const float *x, const float *p, float *y, float *save, uint32_t dim)
{
	__shared__ float sh[T];
	const float *xr = x + (uint64_t)blockIdx.x * dim;
	float *yr = y + (uint64_t)blockIdx.x * dim, s = 0, v = 0, mu, rstd;

	for (uint32_t j = threadIdx.x; j < dim; j += T)
		s += xr[j];
	mu = cu_block_sum(s, sh) / dim;
	for (uint32_t j = threadIdx.x; j < dim; j += T)
		v += (xr[j] - mu) * (xr[j] - mu);
	rstd = rsqrtf(cu_block_sum(v, sh) / dim + (float)PROXY_LN_EPS);
	for (uint32_t j = threadIdx.x; j < dim; j += T)
		yr[j] = (xr[j] - mu) * rstd * p[j] + p[dim + j];
	if (threadIdx.x == 0) {
		save[2 * blockIdx.x] = mu;
		save[2 * blockIdx.x + 1] = rstd;
	}
}

void cu_k_ln_fwd(cudaStream_t st, const float *x, const float *p, float *y, float *save,
		 uint32_t rows, uint32_t dim)
{
	k_ln_fwd<<<rows, T, 0, st>>>(x, p, y, save, dim);
}

/* dx (when not NULL) and dy * xhat (for the gain's gradient). */
__global__ static void k_ln_bwd(const float *x, const float *p, const float *save, const float *dy,
				float *dx, float *dyxh, uint32_t dim)
{
	__shared__ float sh[T];
	uint64_t base = (uint64_t)blockIdx.x * dim;
	float mu = save[2 * blockIdx.x], rstd = save[2 * blockIdx.x + 1], m1 = 0, m2 = 0;

	for (uint32_t j = threadIdx.x; j < dim; j += T) {
		float xh = (x[base + j] - mu) * rstd, g = dy[base + j] * p[j];

		m1 += g;
		m2 += g * xh;
		dyxh[base + j] = dy[base + j] * xh;
	}
	m1 = cu_block_sum(m1, sh) / dim;
	m2 = cu_block_sum(m2, sh) / dim;
	for (uint32_t j = threadIdx.x; dx && j < dim; j += T) {
		float xh = (x[base + j] - mu) * rstd;

		dx[base + j] = rstd * (dy[base + j] * p[j] - m1 - xh * m2);
	}
}

void cu_k_ln_bwd(cudaStream_t st, const float *x, const float *p, const float *save,
		 const float *dy, float *dx, float *dyxh, uint32_t rows, uint32_t dim)
{
	k_ln_bwd<<<rows, T, 0, st>>>(x, p, save, dy, dx, dyxh, dim);
}

/* ---- softmax over rows of len, one warp per row ---- */

__global__ static void k_softmax(float *p, uint64_t rows, uint32_t len)
{
	uint64_t row = (uint64_t)blockIdx.x * (T / 32) + threadIdx.x / 32;
	unsigned lane = threadIdx.x % 32;
	float mx = -INFINITY, s = 0, *pr;

	if (row >= rows)
		return;
	pr = p + row * len;
	for (uint32_t j = lane; j < len; j += 32)
		mx = fmaxf(mx, pr[j]);
	mx = cu_warp_max(mx);
	for (uint32_t j = lane; j < len; j += 32) {
		float e = expf(pr[j] - mx);

		pr[j] = e;
		s += e;
	}
	s = 1.0f / cu_warp_sum(s);
	for (uint32_t j = lane; j < len; j += 32)
		pr[j] *= s;
}

void cu_k_softmax(cudaStream_t st, float *p, uint64_t rows, uint32_t len)
{
	k_softmax<<<(unsigned)((rows + T / 32 - 1) / (T / 32)), T, 0, st>>>(p, rows, len);
}

/* dp := p * (dp - sum(dp * p)) per row */
__global__ static void k_softmax_bwd(const float *p, float *dp, uint64_t rows, uint32_t len)
{
	uint64_t row = (uint64_t)blockIdx.x * (T / 32) + threadIdx.x / 32;
	unsigned lane = threadIdx.x % 32;
	float dot = 0;

	if (row >= rows)
		return;
	p += row * len;
	dp += row * len;
	for (uint32_t j = lane; j < len; j += 32)
		dot += dp[j] * p[j];
	dot = cu_warp_sum(dot);
	for (uint32_t j = lane; j < len; j += 32)
		dp[j] = p[j] * (dp[j] - dot);
}

void cu_k_softmax_bwd(cudaStream_t st, const float *p, float *dp, uint64_t rows, uint32_t len)
{
	k_softmax_bwd<<<(unsigned)((rows + T / 32 - 1) / (T / 32)), T, 0, st>>>(p, dp, rows, len);
}

/* ---- LSTM cell, time-major rows (t, n); gates i f g o ---- */

__device__ static float cu_sigmoid(float v)
{
	return 1.0f / (1.0f + expf(-v));
}

__global__ static void k_lstm_fwd(float *gates, float *cells, float *y, uint32_t t, uint32_t n,
				  uint32_t h)
{
	GRID_LOOP(i, (uint64_t)n * h) {
		uint64_t row = (uint64_t)t * n + i / h, j = i % h;
		float *g = gates + row * 4 * h;
		float ig = cu_sigmoid(g[j]), fg = cu_sigmoid(g[h + j]), gg = tanhf(g[2 * h + j]);
		float og = cu_sigmoid(g[3 * h + j]);
		float c = ig * gg + (t > 0 ? fg * cells[(row - n) * h + j] : 0.0f);

		g[j] = ig;
		g[h + j] = fg;
		g[2 * h + j] = gg;
		g[3 * h + j] = og;
		cells[row * h + j] = c;
		y[row * h + j] = og * tanhf(c);
	}
}

void cu_k_lstm_fwd(cudaStream_t st, float *gates, float *cells, float *y, uint32_t t, uint32_t n,
		   uint32_t h)
{
	k_lstm_fwd<<<cu_grid((uint64_t)n * h), T, 0, st>>>(gates, cells, y, t, n, h);
}

__global__ static void k_lstm_bwd(const float *gates, const float *cells, const float *dy,
				  const float *dh_rec, float *dc, float *dg, uint32_t t, uint32_t n,
				  uint32_t h)
{
	GRID_LOOP(i, (uint64_t)n * h) {
		uint64_t row = (uint64_t)t * n + i / h, j = i % h;
		const float *a = gates + row * 4 * h;
		float *d = dg + row * 4 * h;
		float c = cells[row * h + j], tc = tanhf(c);
		float dh = dy[row * h + j] + (dh_rec ? dh_rec[i] : 0.0f);
		float cprev = t > 0 ? cells[(row - n) * h + j] : 0.0f;
		float dcj = dc[i] + dh * a[3 * h + j] * (1 - tc * tc);

		d[j] = dcj * a[2 * h + j] * a[j] * (1 - a[j]);
		d[h + j] = dcj * cprev * a[h + j] * (1 - a[h + j]);
		d[2 * h + j] = dcj * a[j] * (1 - a[2 * h + j] * a[2 * h + j]);
		d[3 * h + j] = dh * tc * a[3 * h + j] * (1 - a[3 * h + j]);
		dc[i] = dcj * a[h + j];
	}
}

void cu_k_lstm_bwd(cudaStream_t st, const float *gates, const float *cells, const float *dy,
		   const float *dh_rec, float *dc, float *dg, uint32_t t, uint32_t n, uint32_t h)
{
	k_lstm_bwd<<<cu_grid((uint64_t)n * h), T, 0, st>>>(gates, cells, dy, dh_rec, dc, dg, t, n, h);
}

/* ---- embeddings ---- */

__global__ static void k_embed_fwd(const float *table, const int32_t *ids, float *y, struct proxy_layer l)
{
	uint64_t rows = l.mean ? l.n : (uint64_t)l.n * l.fields;

	GRID_LOOP(i, rows * l.dim) {
		uint64_t r = i / l.dim, j = i % l.dim;

		if (!l.mean) {
			y[i] = table[(uint64_t)ids[r] * l.dim + j];
		} else {
			float s = 0;

			for (uint32_t f = 0; f < l.fields; f++)
				s += table[(uint64_t)ids[r * l.fields + f] * l.dim + j];
			y[i] = s / l.fields;
		}
	}
}

void cu_k_embed_fwd(cudaStream_t st, const float *table, const int32_t *ids, float *y,
		    const struct proxy_layer *l)
{
	uint64_t rows = l->mean ? l->n : (uint64_t)l->n * l->fields;

	k_embed_fwd<<<cu_grid(rows * l->dim), T, 0, st>>>(table, ids, y, *l);
}

__global__ static void k_embed_count(const int32_t *ids, uint64_t n, int32_t *count)
{
	GRID_LOOP(i, n) atomicAdd(&count[ids[i]], 1);	/* integer: order-free */
}

/* Exclusive prefix sums of count[0..v) into off[0..v] and cur (one block). */
__global__ static void k_embed_scan(const int32_t *count, int32_t *off, int32_t *cur, uint32_t v)
{
	__shared__ int32_t part[1024];
	uint32_t chunk = (v + 1023) / 1024, lo = threadIdx.x * chunk, hi = min(lo + chunk, v);
	int32_t s = 0;

	for (uint32_t i = lo; i < hi; i++)
		s += count[i];
	part[threadIdx.x] = s;
	__syncthreads();
	if (threadIdx.x == 0) {
		int32_t run = 0;

		for (int i = 0; i < 1024; i++) {
			int32_t x = part[i];

			part[i] = run;
			run += x;
		}
		off[v] = cur[v] = run;
	}
	__syncthreads();
	s = part[threadIdx.x];
	for (uint32_t i = lo; i < hi; i++) {
		off[i] = cur[i] = s;
		s += count[i];
	}
}

__global__ static void k_embed_scatter(const int32_t *ids, uint64_t n, int32_t *cur, int32_t *perm)
{
	GRID_LOOP(i, n) perm[atomicAdd(&cur[ids[i]], 1)] = (int32_t)i;
}

/* The order within a row's segment came from atomics: sort it. */
__global__ static void k_embed_sort(const int32_t *off, int32_t *perm, uint32_t v)
{
	GRID_LOOP(r, v) {
		for (int32_t a = off[r] + 1; a < off[r + 1]; a++) {
			int32_t x = perm[a], b = a - 1;

			while (b >= off[r] && perm[b] > x) {
				perm[b + 1] = perm[b];
				b--;
			}
			perm[b + 1] = x;
		}
	}
}

__global__ static void k_embed_accum(const int32_t *off, const int32_t *perm, const float *dy,
				     float *dtable, struct proxy_layer l)
{
	GRID_LOOP(i, (uint64_t)l.vocab * l.dim) {
		uint64_t r = i / l.dim, j = i % l.dim;
		float s = 0;

		if (off[r] == off[r + 1])
			continue;
		for (int32_t p = off[r]; p < off[r + 1]; p++)
			s += dy[(uint64_t)(l.mean ? perm[p] / (int32_t)l.fields : perm[p]) * l.dim + j];
		dtable[i] += l.mean ? s / l.fields : s;
	}
}

void cu_k_embed_bwd(cudaStream_t st, struct cu_net *c, const int32_t *ids, const float *dy,
		    float *dtable, const struct proxy_layer *l)
{
	uint64_t n = l->in_size;

	cudaMemsetAsync(c->emb_count, 0, (l->vocab + 1) * sizeof(int32_t), st);
	k_embed_count<<<cu_grid(n), T, 0, st>>>(ids, n, c->emb_count);
	k_embed_scan<<<1, 1024, 0, st>>>(c->emb_count, c->emb_off, c->emb_cur, l->vocab);
	k_embed_scatter<<<cu_grid(n), T, 0, st>>>(ids, n, c->emb_cur, c->emb_perm);
	k_embed_sort<<<cu_grid(l->vocab), T, 0, st>>>(c->emb_off, c->emb_perm, l->vocab);
	k_embed_accum<<<cu_grid((uint64_t)l->vocab * l->dim), T, 0, st>>>(c->emb_off, c->emb_perm, dy,
									dtable, *l);
}

__global__ static void k_posadd(const float *x, const float *p, float *y, uint64_t n, uint64_t td)
{
	GRID_LOOP(i, n) y[i] = x[i] + p[i % td];
}

void cu_k_posadd(cudaStream_t st, const float *x, const float *p, float *y, uint64_t n, uint64_t td)
{
	k_posadd<<<cu_grid(n), T, 0, st>>>(x, p, y, n, td);
}

/* ---- softmax cross-entropy: one block per row ---- */

__global__ static void k_xent_fwd(const float *z, const int32_t *labels, float *lse, float *rowloss,
				  uint32_t classes)
{
	__shared__ float sh[T];
	const float *zr = z + (uint64_t)blockIdx.x * classes;
	float mx = -INFINITY, s = 0;

	for (uint32_t c = threadIdx.x; c < classes; c += T)
		mx = fmaxf(mx, zr[c]);
	mx = cu_block_max(mx, sh);
	for (uint32_t c = threadIdx.x; c < classes; c += T)
		s += expf(zr[c] - mx);
	s = cu_block_sum(s, sh);
	if (threadIdx.x == 0) {
		lse[blockIdx.x] = mx + logf(s);
		rowloss[blockIdx.x] = lse[blockIdx.x] - zr[labels[blockIdx.x]];
	}
}

void cu_k_xent_fwd(cudaStream_t st, const float *z, const int32_t *labels, float *lse,
		   float *rowloss, uint32_t rows, uint32_t classes)
{
	k_xent_fwd<<<rows, T, 0, st>>>(z, labels, lse, rowloss, classes);
}

/* out = scale * sum(v); acc += out (one block, fixed order). */
__global__ static void k_sum_into(const float *v, uint32_t n, float scale, float *out, float *acc)
{
	__shared__ float sh[T];
	float s = 0;

	for (uint32_t i = threadIdx.x; i < n; i += T)
		s += v[i];
	s = cu_block_sum(s, sh) * scale;
	if (threadIdx.x == 0) {
		if (out)
			*out = s;
		if (acc)
			*acc += s;
	}
}

void cu_k_sum_into(cudaStream_t st, const float *v, uint32_t n, float scale, float *out, float *acc)
{
	k_sum_into<<<1, T, 0, st>>>(v, n, scale, out, acc);
}

__global__ static void k_xent_bwd(const float *z, const int32_t *labels, const float *lse, float *dz,
				  uint32_t classes, uint64_t n, float gscale)
{
	GRID_LOOP(i, n) {
		uint64_t r = i / classes;

		dz[i] = gscale * (expf(z[i] - lse[r]) - ((int32_t)(i % classes) == labels[r] ? 1.0f : 0.0f));
	}
}

void cu_k_xent_bwd(cudaStream_t st, const float *z, const int32_t *labels, const float *lse,
		   float *dz, uint32_t rows, uint32_t classes, float gscale)
{
	uint64_t n = (uint64_t)rows * classes;

	k_xent_bwd<<<cu_grid(n), T, 0, st>>>(z, labels, lse, dz, classes, n, gscale);
}

/* ---- momentum SGD with clipping by the global norm ---- */

/* Block b sums the squares of its fixed chunk. */
__global__ static void k_sqnorm(const float *g, uint64_t n, float *partial)
{
	__shared__ float sh[T];
	uint64_t chunk = (n + gridDim.x - 1) / gridDim.x, lo = blockIdx.x * chunk;
	uint64_t hi = lo + chunk < n ? lo + chunk : n;
	float s = 0;

	for (uint64_t i = lo + threadIdx.x; i < hi; i += T)
		s += g[i] * g[i];
	s = cu_block_sum(s, sh);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = s;
}

__global__ static void k_clip_scale(const float *partial, uint32_t nb, float clip, float *scale)
{
	__shared__ double sh[T];
	double s = 0, norm;

	for (uint32_t i = threadIdx.x; i < nb; i += T)
		s += partial[i];
	sh[threadIdx.x] = s;
	__syncthreads();
	for (unsigned k = T / 2; k > 0; k >>= 1) {
		if (threadIdx.x < k)
			sh[threadIdx.x] += sh[threadIdx.x + k];
		__syncthreads();
	}
	if (threadIdx.x == 0) {
		norm = sqrt(sh[0]);
		*scale = norm > clip ? (float)(clip / norm) : 1.0f;
	}
}

__global__ static void k_sgd(float *p, float *v, const float *g, uint64_t n, float lr, float mom,
			     const float *scale)
{
	float s = *scale;

	GRID_LOOP(i, n) {
		float vi = mom * v[i] + s * g[i];

		v[i] = vi;
		p[i] -= lr * vi;
	}
}

void cu_k_sgd(cudaStream_t st, struct cu_net *c, float lr, float momentum, float clip)
{
	uint64_t n = c->net->nparams;
	const float *scale = c->one;

	if (clip > 0) {
		unsigned nb = cu_grid(n) < CU_NORM_BLOCKS ? cu_grid(n) : CU_NORM_BLOCKS;

		k_sqnorm<<<nb, T, 0, st>>>(c->grads, n, c->norm_partial);
		k_clip_scale<<<1, T, 0, st>>>(c->norm_partial, nb, clip, c->clip_scale);
		scale = c->clip_scale;
	}
	k_sgd<<<cu_grid(n), T, 0, st>>>(c->params, c->mom, c->grads, n, lr, momentum, scale);
}

/* ---- synthetic data and the teacher's labels ---- */

/* The class whose teacher row has the largest dot with h (shared); ties go
 * to the lower class. */
__device__ static int32_t cu_argmax(const float *teacher, uint32_t classes, uint32_t w, const float *h)
{
	__shared__ float bv[T];
	__shared__ int32_t bi[T];
	float best = -INFINITY;
	int32_t besti = 0x7fffffff;

	for (uint32_t c = threadIdx.x; c < classes; c += T) {
		const float *t = teacher + (uint64_t)c * w;
		float s = 0;

		for (uint32_t j = 0; j < w; j++)
			s += t[j] * h[j];
		if (s > best || besti == 0x7fffffff) {
			best = s;
			besti = (int32_t)c;
		}
	}
	bv[threadIdx.x] = best;
	bi[threadIdx.x] = besti;
	__syncthreads();
	for (unsigned s = T / 2; s > 0; s >>= 1) {
		if (threadIdx.x < s) {
			float o = bv[threadIdx.x + s];
			int32_t oi = bi[threadIdx.x + s];

			if (o > bv[threadIdx.x] || (o == bv[threadIdx.x] && oi < bi[threadIdx.x])) {
				bv[threadIdx.x] = o;
				bi[threadIdx.x] = oi;
			}
		}
		__syncthreads();
	}
	return bi[0];
}

__global__ static void k_images(float *x, uint64_t total, uint32_t s, uint32_t ch, uint64_t key)
{
	const uint32_t G = PROXY_IMAGE_GRID, cell = s / G;

	GRID_LOOP(p, total) {
		uint64_t per = (uint64_t)s * s * ch, n = p / per, rem = p % per;
		uint32_t c = (uint32_t)(rem % ch), xx = (uint32_t)((rem / ch) % s), yy = (uint32_t)(rem / ch / s);
		uint64_t f = ((uint64_t)(yy / cell) * G + xx / cell) * ch + c;

		x[p] = proxy_rng_normalf(key, PROXY_STREAM_LATENT, n * G * G * ch + f) +
		       proxy_rng_normalf(key, PROXY_STREAM_NOISE, p);
	}
}

__global__ static void k_image_labels(const float *teacher, uint32_t classes, uint32_t ch,
				      uint64_t key, int32_t *labels)
{
	__shared__ float h[PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * 64];
	uint32_t w = PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * ch;
	int32_t label;

	for (uint32_t f = threadIdx.x; f < w; f += T)
		h[f] = proxy_rng_normalf(key, PROXY_STREAM_LATENT, (uint64_t)blockIdx.x * w + f);
	__syncthreads();
	label = cu_argmax(teacher, classes, w, h);
	if (threadIdx.x == 0)
		labels[blockIdx.x] = label;
}

__global__ static void k_ids(int32_t *ids, uint64_t n, uint64_t key, uint32_t v)
{
	GRID_LOOP(i, n) ids[i] = (int32_t)(proxy_rng_u64(key, PROXY_STREAM_IDS, i) % v);
}

/* Previous step of sequence row r, or -1 at a sequence start. */
__device__ static int64_t cu_prev_row(uint64_t r, bool time_major, uint32_t n, uint32_t seq)
{
	if (time_major)
		return r >= n ? (int64_t)(r - n) : -1;
	return r % seq ? (int64_t)r - 1 : -1;
}

__global__ static void k_token_labels(const int32_t *ids, const float *teacher, uint32_t classes,
				      uint64_t seed, int32_t *labels, bool time_major, uint32_t n,
				      uint32_t seq)
{
	__shared__ float h[PROXY_TEACHER_RANK];
	const uint32_t R = PROXY_TEACHER_RANK;
	uint64_t r = blockIdx.x;
	int64_t p = cu_prev_row(r, time_major, n, seq);
	int32_t label;

	if (threadIdx.x < R)
		h[threadIdx.x] = proxy_rng_normalf(seed, PROXY_STREAM_TEACHER_A, (uint64_t)ids[r] * R + threadIdx.x) +
				 (p >= 0 ? proxy_rng_normalf(seed, PROXY_STREAM_TEACHER_B,
							     (uint64_t)ids[p] * R + threadIdx.x) : 0.0f);
	__syncthreads();
	label = cu_argmax(teacher, classes, R, h);
	if (threadIdx.x == 0)
		labels[r] = label;
}

__global__ static void k_frames(float *x, uint64_t n, uint64_t key)
{
	GRID_LOOP(i, n) x[i] = proxy_rng_normalf(key, PROXY_STREAM_FRAMES, i);
}

__global__ static void k_frame_labels(const float *x, const float *teacher, uint32_t classes,
				      uint32_t in, uint32_t w, int32_t *labels, uint32_t n, uint32_t seq)
{
	__shared__ float h[PROXY_TEACHER_RANK];
	uint64_t r = blockIdx.x;
	int64_t p = cu_prev_row(r, true, n, seq);
	int32_t label;

	if (threadIdx.x < w)
		h[threadIdx.x] = x[r * in + threadIdx.x] + (p >= 0 ? 0.5f * x[(uint64_t)p * in + threadIdx.x] : 0.0f);
	__syncthreads();
	label = cu_argmax(teacher, classes, w, h);
	if (threadIdx.x == 0)
		labels[r] = label;
}

__global__ static void k_item_labels(const int32_t *ids, const float *teacher, uint32_t classes,
				     uint64_t seed, uint32_t fields, int32_t *labels)
{
	__shared__ float h[PROXY_TEACHER_RANK];
	const uint32_t R = PROXY_TEACHER_RANK;
	int32_t label;

	if (threadIdx.x < R) {
		float s = 0;

		for (uint32_t f = 0; f < fields; f++)
			s += proxy_rng_normalf(seed, PROXY_STREAM_TEACHER_A,
					       (uint64_t)ids[(uint64_t)blockIdx.x * fields + f] * R + threadIdx.x);
		h[threadIdx.x] = s;
	}
	__syncthreads();
	label = cu_argmax(teacher, classes, R, h);
	if (threadIdx.x == 0)
		labels[blockIdx.x] = label;
}

void cu_k_batch(cudaStream_t st, struct cu_net *c, uint64_t seed, uint64_t round, uint64_t task)
{
	const struct proxy_net *net = c->net;
	const struct proxy_spec *s = &net->spec;
	uint64_t key = proxy_batch_key(seed, round, task), n = net->input_size;
	bool time_major = net->layout == PROXY_LAYOUT_TIME;

	switch (s->family) {
	case PROXY_RESNET:
		k_images<<<cu_grid(n), T, 0, st>>>(c->input, n, s->image, s->channels, key);
		k_image_labels<<<net->label_rows, T, 0, st>>>(c->teacher, net->classes, s->channels, key,
							      c->labels);
		break;
	case PROXY_LSTM:
	case PROXY_TRANSFORMER:
		if (s->family == PROXY_LSTM && !s->vocab) {
			uint32_t w = s->input < PROXY_TEACHER_RANK ? s->input : PROXY_TEACHER_RANK;

			k_frames<<<cu_grid(n), T, 0, st>>>(c->input, n, key);
			k_frame_labels<<<net->label_rows, T, 0, st>>>(c->input, c->teacher, net->classes,
								      s->input, w, c->labels, s->batch, s->seq);
			break;
		}
		k_ids<<<cu_grid(n), T, 0, st>>>(c->ids, n, key, s->vocab);
		k_token_labels<<<net->label_rows, T, 0, st>>>(c->ids, c->teacher, net->classes, seed,
							      c->labels, time_major, s->batch, s->seq);
		break;
	case PROXY_RECOMMENDATION:
		k_ids<<<cu_grid(n), T, 0, st>>>(c->ids, n, key, s->rows);
		k_item_labels<<<net->label_rows, T, 0, st>>>(c->ids, c->teacher, net->classes, seed,
							     s->fields, c->labels);
		break;
	}
}
