/* SPDX-License-Identifier: MIT */
/* The CPU reference of each proxy layer in float64: the definition the CUDA
 * kernels are checked against, written as directly as possible. */
#include "proxy_ref.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* ---- LINEAR: y = x W^T + b ---- */

static void ref_linear_fwd(const struct proxy_layer *l, const double *p, const double *x, double *y)
{
	const double *w = p, *b = p + (uint64_t)l->out * l->in;

	for (uint32_t r = 0; r < l->rows; r++) {
		for (uint32_t o = 0; o < l->out; o++) {
			double s = b[o];

			for (uint32_t i = 0; i < l->in; i++)
				s += x[(uint64_t)r * l->in + i] * w[(uint64_t)o * l->in + i];
			y[(uint64_t)r * l->out + o] = s;
		}
	}
}

static void ref_linear_bwd(const struct proxy_layer *l, const double *p, const double *x,
			   const double *dy, double *dx, double *dp)
{
	const double *w = p;
	double *dw = dp, *db = dp + (uint64_t)l->out * l->in;

	for (uint32_t r = 0; r < l->rows; r++) {
		const double *xr = x + (uint64_t)r * l->in, *dyr = dy + (uint64_t)r * l->out;

		for (uint32_t o = 0; o < l->out; o++) {
			db[o] += dyr[o];
			for (uint32_t i = 0; i < l->in; i++)
				dw[(uint64_t)o * l->in + i] += dyr[o] * xr[i];
		}
		if (!dx)
			continue;
		for (uint32_t i = 0; i < l->in; i++) {
			double s = 0;

			for (uint32_t o = 0; o < l->out; o++)
				s += dyr[o] * w[(uint64_t)o * l->in + i];
			dx[(uint64_t)r * l->in + i] = s;
		}
	}
}

/* ---- CONV: NHWC, W [cout][ky][kx][cin] ---- */

/* Input position of output (oy, ox) and kernel tap (ky, kx), or -1 if padding. */
static int64_t ref_conv_at(const struct proxy_layer *l, uint32_t n, uint32_t oy, uint32_t ox,
			   uint32_t ky, uint32_t kx)
{
	int64_t iy = (int64_t)oy * l->stride - l->pad + ky, ix = (int64_t)ox * l->stride - l->pad + kx;

	if (iy < 0 || ix < 0 || iy >= l->h || ix >= l->w)
		return -1;
	return (((int64_t)n * l->h + iy) * l->w + ix) * l->cin;
}

static void ref_conv_fwd(const struct proxy_layer *l, const double *p, const double *x, double *y)
{
	uint64_t kk = (uint64_t)l->k * l->k * l->cin;
	const double *b = p + (uint64_t)l->cout * kk;

	for (uint32_t n = 0; n < l->n; n++)
	for (uint32_t oy = 0; oy < l->oh; oy++)
	for (uint32_t ox = 0; ox < l->ow; ox++) {
		double *yo = y + (((uint64_t)n * l->oh + oy) * l->ow + ox) * l->cout;

		for (uint32_t co = 0; co < l->cout; co++)
			yo[co] = b[co];
		for (uint32_t ky = 0; ky < l->k; ky++)
		for (uint32_t kx = 0; kx < l->k; kx++) {
			int64_t at = ref_conv_at(l, n, oy, ox, ky, kx);

			if (at < 0)
				continue;
			for (uint32_t co = 0; co < l->cout; co++) {
				const double *wr = p + co * kk + ((uint64_t)ky * l->k + kx) * l->cin;

				for (uint32_t ci = 0; ci < l->cin; ci++)
					yo[co] += wr[ci] * x[at + ci];
			}
		}
	}
}

static void ref_conv_bwd(const struct proxy_layer *l, const double *p, const double *x,
			 const double *dy, double *dx, double *dp)
{
	uint64_t kk = (uint64_t)l->k * l->k * l->cin;
	double *db = dp + (uint64_t)l->cout * kk;

	if (dx)
		memset(dx, 0, l->in_size * sizeof(double));
	for (uint32_t n = 0; n < l->n; n++)
	for (uint32_t oy = 0; oy < l->oh; oy++)
	for (uint32_t ox = 0; ox < l->ow; ox++) {
		const double *dyo = dy + (((uint64_t)n * l->oh + oy) * l->ow + ox) * l->cout;

		for (uint32_t co = 0; co < l->cout; co++)
			db[co] += dyo[co];
		for (uint32_t ky = 0; ky < l->k; ky++)
		for (uint32_t kx = 0; kx < l->k; kx++) {
			int64_t at = ref_conv_at(l, n, oy, ox, ky, kx);

			if (at < 0)
				continue;
			for (uint32_t co = 0; co < l->cout; co++) {
				uint64_t wo = co * kk + ((uint64_t)ky * l->k + kx) * l->cin;

				for (uint32_t ci = 0; ci < l->cin; ci++) {
					dp[wo + ci] += dyo[co] * x[at + ci];
					if (dx)
						dx[at + ci] += dyo[co] * p[wo + ci];
				}
			}
		}
	}
}

/* ---- LAYERNORM ---- */

static void ref_ln_fwd(const struct proxy_layer *l, const double *p, const double *x, double *y,
		       double *save)
{
	uint32_t d = l->out;

	for (uint32_t r = 0; r < l->rows; r++) {
		const double *xr = x + (uint64_t)r * d;
		double mu = 0, var = 0, rstd;

		for (uint32_t i = 0; i < d; i++)
			mu += xr[i];
		mu /= d;
		for (uint32_t i = 0; i < d; i++)
			var += (xr[i] - mu) * (xr[i] - mu);
		rstd = 1.0 / sqrt(var / d + PROXY_LN_EPS);
		for (uint32_t i = 0; i < d; i++)
			y[(uint64_t)r * d + i] = (xr[i] - mu) * rstd * p[i] + p[d + i];
		save[2 * r] = mu;
		save[2 * r + 1] = rstd;
	}
}

static void ref_ln_bwd(const struct proxy_layer *l, const double *p, const double *x,
		       const double *save, const double *dy, double *dx, double *dp)
{
	uint32_t d = l->out;

	for (uint32_t r = 0; r < l->rows; r++) {
		const double *xr = x + (uint64_t)r * d, *dyr = dy + (uint64_t)r * d;
		double mu = save[2 * r], rstd = save[2 * r + 1], m1 = 0, m2 = 0;

		for (uint32_t i = 0; i < d; i++) {
			double xh = (xr[i] - mu) * rstd, g = dyr[i] * p[i];

			dp[i] += dyr[i] * xh;
			dp[d + i] += dyr[i];
			m1 += g;
			m2 += g * xh;
		}
		if (!dx)
			continue;
		m1 /= d;
		m2 /= d;
		for (uint32_t i = 0; i < d; i++) {
			double xh = (xr[i] - mu) * rstd;

			dx[(uint64_t)r * d + i] = rstd * (dyr[i] * p[i] - m1 - xh * m2);
		}
	}
}

/* ---- ATTENTION: in [n][t][3 dim] = q|k|v, out [n][t][dim]; P [h][n][t][t] ---- */

static void ref_attn_fwd(const struct proxy_layer *l, const double *x, double *y, double *save)
{
	uint32_t T = l->seq, D = l->dim, dh = D / l->heads;
	double scale = 1.0 / sqrt((double)dh);

	for (uint32_t h = 0; h < l->heads; h++)
	for (uint32_t n = 0; n < l->n; n++)
	for (uint32_t t = 0; t < T; t++) {
		double *pr = save + (((uint64_t)h * l->n + n) * T + t) * T, mx = -INFINITY, sum = 0;
		const double *q = x + ((uint64_t)n * T + t) * 3 * D + h * dh;

		for (uint32_t u = 0; u < T; u++) {
			const double *k = x + ((uint64_t)n * T + u) * 3 * D + D + h * dh;
			double s = 0;

			for (uint32_t j = 0; j < dh; j++)
				s += q[j] * k[j];
			pr[u] = s * scale;
			mx = fmax(mx, pr[u]);
		}
		for (uint32_t u = 0; u < T; u++)
			sum += (pr[u] = exp(pr[u] - mx));
		for (uint32_t u = 0; u < T; u++)
			pr[u] /= sum;
		for (uint32_t j = 0; j < dh; j++) {
			double s = 0;

			for (uint32_t u = 0; u < T; u++)
				s += pr[u] * x[((uint64_t)n * T + u) * 3 * D + 2 * D + h * dh + j];
			y[((uint64_t)n * T + t) * D + h * dh + j] = s;
		}
	}
}

static void ref_attn_bwd(const struct proxy_layer *l, const double *x, const double *save,
			 const double *dy, double *dx)
{
	uint32_t T = l->seq, D = l->dim, dh = D / l->heads;
	double scale = 1.0 / sqrt((double)dh);

	memset(dx, 0, l->in_size * sizeof(double));
	for (uint32_t h = 0; h < l->heads; h++)
	for (uint32_t n = 0; n < l->n; n++)
	for (uint32_t t = 0; t < T; t++) {
		const double *pr = save + (((uint64_t)h * l->n + n) * T + t) * T;
		const double *dyr = dy + ((uint64_t)n * T + t) * D + h * dh;
		const double *q = x + ((uint64_t)n * T + t) * 3 * D + h * dh;
		double *dq = dx + ((uint64_t)n * T + t) * 3 * D + h * dh, dp[T], dot = 0;

		for (uint32_t u = 0; u < T; u++) {
			const double *v = x + ((uint64_t)n * T + u) * 3 * D + 2 * D + h * dh;
			double *dv = dx + ((uint64_t)n * T + u) * 3 * D + 2 * D + h * dh;

			dp[u] = 0;
			for (uint32_t j = 0; j < dh; j++) {
				dp[u] += dyr[j] * v[j];
				dv[j] += pr[u] * dyr[j];
			}
			dot += dp[u] * pr[u];
		}
		for (uint32_t u = 0; u < T; u++) {
			const double *k = x + ((uint64_t)n * T + u) * 3 * D + D + h * dh;
			double *dk = dx + ((uint64_t)n * T + u) * 3 * D + D + h * dh;
			double ds = pr[u] * (dp[u] - dot) * scale;

			for (uint32_t j = 0; j < dh; j++) {
				dq[j] += ds * k[j];
				dk[j] += ds * q[j];
			}
		}
	}
}

/* ---- LSTM: time-major rows (t, n); gates i f g o; save = gates then cells ---- */

static double ref_sigmoid(double v)
{
	return 1.0 / (1.0 + exp(-v));
}

static void ref_lstm_fwd(const struct proxy_layer *l, const double *p, const double *x, double *y,
			 double *save)
{
	uint32_t H = l->dim, I = l->in, N = l->n;
	const double *wih = p, *whh = p + 4ull * H * I, *b = whh + 4ull * H * H;
	double *gates = save, *cells = save + 4ull * H * N * l->seq;

	for (uint32_t t = 0; t < l->seq; t++)
	for (uint32_t n = 0; n < N; n++) {
		uint64_t row = (uint64_t)t * N + n, prev = row - N;
		double *g = gates + row * 4 * H;

		for (uint32_t j = 0; j < 4 * H; j++) {
			double s = b[j];

			for (uint32_t i = 0; i < I; i++)
				s += wih[(uint64_t)j * I + i] * x[row * I + i];
			for (uint32_t i = 0; t > 0 && i < H; i++)
				s += whh[(uint64_t)j * H + i] * y[prev * H + i];
			g[j] = s;
		}
		for (uint32_t j = 0; j < H; j++) {
			double ig = ref_sigmoid(g[j]), fg = ref_sigmoid(g[H + j]);
			double gg = tanh(g[2 * H + j]), og = ref_sigmoid(g[3 * H + j]);
			double c = ig * gg + (t > 0 ? fg * cells[prev * H + j] : 0);

			g[j] = ig;
			g[H + j] = fg;
			g[2 * H + j] = gg;
			g[3 * H + j] = og;
			cells[row * H + j] = c;
			y[row * H + j] = og * tanh(c);
		}
	}
}

static void ref_lstm_bwd(const struct proxy_layer *l, const double *p, const double *x,
			 const double *y, const double *save, const double *dy, double *dx, double *dp)
{
	uint32_t H = l->dim, I = l->in, N = l->n;
	const double *wih = p, *whh = p + 4ull * H * I, *gates = save;
	const double *cells = save + 4ull * H * N * l->seq;
	double *dwih = dp, *dwhh = dp + 4ull * H * I, *db = dwhh + 4ull * H * H;
	double dh[N * H], dc[N * H], dg[4 * H];

	memset(dh, 0, sizeof(dh));
	memset(dc, 0, sizeof(dc));
	for (uint32_t t = l->seq; t-- > 0;)
	for (uint32_t n = 0; n < N; n++) {
		uint64_t row = (uint64_t)t * N + n, prev = row - N;
		const double *g = gates + row * 4 * H;
		double *dhn = dh + (uint64_t)n * H, *dcn = dc + (uint64_t)n * H;

		for (uint32_t j = 0; j < H; j++) {
			double c = cells[row * H + j], tc = tanh(c), h = dy[row * H + j] + dhn[j];
			double cprev = t > 0 ? cells[prev * H + j] : 0;
			double dcj = dcn[j] + h * g[3 * H + j] * (1 - tc * tc);

			dg[j] = dcj * g[2 * H + j] * g[j] * (1 - g[j]);
			dg[H + j] = dcj * cprev * g[H + j] * (1 - g[H + j]);
			dg[2 * H + j] = dcj * g[j] * (1 - g[2 * H + j] * g[2 * H + j]);
			dg[3 * H + j] = h * tc * g[3 * H + j] * (1 - g[3 * H + j]);
			dcn[j] = dcj * g[H + j];
		}
		memset(dhn, 0, H * sizeof(double));
		for (uint32_t j = 0; j < 4 * H; j++) {
			db[j] += dg[j];
			for (uint32_t i = 0; i < I; i++)
				dwih[(uint64_t)j * I + i] += dg[j] * x[row * I + i];
			for (uint32_t i = 0; t > 0 && i < H; i++) {
				dwhh[(uint64_t)j * H + i] += dg[j] * y[prev * H + i];
				dhn[i] += dg[j] * whh[(uint64_t)j * H + i];
			}
		}
		for (uint32_t i = 0; dx && i < I; i++) {
			double s = 0;

			for (uint32_t j = 0; j < 4 * H; j++)
				s += dg[j] * wih[(uint64_t)j * I + i];
			dx[row * I + i] = s;
		}
	}
}

/* ---- EMBED, POSADD ---- */

static int ref_embed_fwd(const struct proxy_layer *l, const double *p, const int32_t *ids, double *y)
{
	uint32_t F = l->fields, D = l->dim;

	memset(y, 0, l->out_size * sizeof(double));
	for (uint64_t i = 0; i < l->in_size; i++) {
		uint64_t row = l->mean ? i / F : i;

		if (ids[i] < 0 || (uint32_t)ids[i] >= l->vocab)
			return -EINVAL;
		for (uint32_t j = 0; j < D; j++)
			y[row * D + j] += p[(uint64_t)ids[i] * D + j] / (l->mean ? F : 1);
	}
	return 0;
}

static void ref_embed_bwd(const struct proxy_layer *l, const int32_t *ids, const double *dy, double *dp)
{
	uint32_t F = l->fields, D = l->dim;

	for (uint64_t i = 0; i < l->in_size; i++) {
		uint64_t row = l->mean ? i / F : i;

		for (uint32_t j = 0; j < D; j++)
			dp[(uint64_t)ids[i] * D + j] += dy[row * D + j] / (l->mean ? F : 1);
	}
}

static void ref_posadd(const struct proxy_layer *l, const double *p, const double *x, double *y)
{
	uint64_t td = (uint64_t)l->seq * l->dim;

	for (uint64_t i = 0; i < l->out_size; i++)
		y[i] = x[i] + p[i % td];
}

/* ---- XENT: out[0] = gscale * sum of row losses; save = log-sum-exp per row ---- */

static int ref_xent_fwd(const struct proxy_layer *l, const double *z, const int32_t *labels,
			double gscale, double *out, double *save)
{
	double total = 0;

	for (uint32_t r = 0; r < l->rows; r++) {
		const double *zr = z + (uint64_t)r * l->out;
		double mx = -INFINITY, sum = 0;

		if (labels[r] < 0 || (uint32_t)labels[r] >= l->out)
			return -EINVAL;
		for (uint32_t c = 0; c < l->out; c++)
			mx = fmax(mx, zr[c]);
		for (uint32_t c = 0; c < l->out; c++)
			sum += exp(zr[c] - mx);
		save[r] = mx + log(sum);
		total += save[r] - zr[labels[r]];
	}
	out[0] = gscale * total;
	return 0;
}

static void ref_xent_bwd(const struct proxy_layer *l, const double *z, const int32_t *labels,
			 double gscale, const double *save, double *dz)
{
	for (uint32_t r = 0; r < l->rows; r++)
		for (uint32_t c = 0; c < l->out; c++) {
			uint64_t i = (uint64_t)r * l->out + c;

			dz[i] = gscale * (exp(z[i] - save[r]) - ((int32_t)c == labels[r]));
		}
}

int ref_layer_forward(const struct proxy_layer *l, const double *p, const double *in,
		      const int32_t *ids, const int32_t *labels, double gscale, double *out,
		      double *save)
{
	switch (l->op) {
	case PROXY_OP_EMBED: return ref_embed_fwd(l, p, ids, out);
	case PROXY_OP_POSADD: ref_posadd(l, p, in, out); return 0;
	case PROXY_OP_LINEAR: ref_linear_fwd(l, p, in, out); return 0;
	case PROXY_OP_RELU:
		for (uint64_t i = 0; i < l->out_size; i++)
			out[i] = in[i] > 0 ? in[i] : 0;
		return 0;
	case PROXY_OP_CONV: ref_conv_fwd(l, p, in, out); return 0;
	case PROXY_OP_LAYERNORM: ref_ln_fwd(l, p, in, out, save); return 0;
	case PROXY_OP_ATTENTION: ref_attn_fwd(l, in, out, save); return 0;
	case PROXY_OP_LSTM: ref_lstm_fwd(l, p, in, out, save); return 0;
	case PROXY_OP_XENT: return ref_xent_fwd(l, in, labels, gscale, out, save);
	default: return -EINVAL;
	}
}

void ref_layer_backward(const struct proxy_layer *l, const double *p, const double *in,
			const int32_t *ids, const int32_t *labels, double gscale, const double *out,
			const double *save, const double *dout, double *din, double *dp)
{
	switch (l->op) {
	case PROXY_OP_EMBED: ref_embed_bwd(l, ids, dout, dp); break;
	case PROXY_OP_POSADD:
		for (uint64_t i = 0; i < l->out_size; i++) {
			dp[i % ((uint64_t)l->seq * l->dim)] += dout[i];
			if (din)
				din[i] = dout[i];
		}
		break;
	case PROXY_OP_LINEAR: ref_linear_bwd(l, p, in, dout, din, dp); break;
	case PROXY_OP_RELU:
		for (uint64_t i = 0; din && i < l->out_size; i++)
			din[i] = out[i] > 0 ? dout[i] : 0;
		break;
	case PROXY_OP_CONV: ref_conv_bwd(l, p, in, dout, din, dp); break;
	case PROXY_OP_LAYERNORM: ref_ln_bwd(l, p, in, save, dout, din, dp); break;
	case PROXY_OP_ATTENTION:
		if (din)
			ref_attn_bwd(l, in, save, dout, din);
		break;
	case PROXY_OP_LSTM: ref_lstm_bwd(l, p, in, out, save, dout, din, dp); break;
	case PROXY_OP_XENT:
		if (din)
			ref_xent_bwd(l, in, labels, gscale, save, din);
		break;
	default: break;
	}
}
