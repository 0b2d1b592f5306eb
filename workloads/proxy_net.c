/* SPDX-License-Identifier: MIT */
/* The layer list of a proxy model: each family's stack built from a checked
 * spec, the parameter layout (one fused buffer) and the GEMM FLOP count. */
#include "proxy.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parameter slices start on 256-byte boundaries (cuBLAS likes them). */
#define PROXY_PARAM_ALIGN 64

struct proxy_builder {
	struct proxy_net *net;
	uint32_t cap;
	uint64_t cur;		/* floats of the current activation */
	int rc;
};

static struct proxy_layer *pb_add(struct proxy_builder *b, enum proxy_op op)
{
	struct proxy_net *net = b->net;
	struct proxy_layer *l;

	if (b->rc)
		return NULL;
	if (net->nlayers == b->cap) {
		uint32_t cap = b->cap ? b->cap * 2 : 32;
		struct proxy_layer *grown = realloc(net->layers, cap * sizeof(*grown));

		if (!grown) {
			b->rc = -ENOMEM;
			return NULL;
		}
		net->layers = grown;
		b->cap = cap;
	}
	l = &net->layers[net->nlayers++];
	memset(l, 0, sizeof(*l));
	l->op = op;
	l->in_size = b->cur;
	l->need_dx = true;
	return l;
}

/* Close a layer: its output becomes the current activation, its params get
 * the next aligned slice. */
static void pb_done(struct proxy_builder *b, struct proxy_layer *l, uint64_t out_size, uint64_t nparams)
{
	struct proxy_net *net = b->net;

	l->out_size = out_size;
	l->nparams = nparams;
	if (nparams) {
		l->param_off = net->nparams;
		net->nparams += (nparams + PROXY_PARAM_ALIGN - 1) / PROXY_PARAM_ALIGN * PROXY_PARAM_ALIGN;
	}
	b->cur = out_size;
	if (out_size > net->max_act)
		net->max_act = out_size;
}

static void pb_linear(struct proxy_builder *b, uint32_t rows, uint32_t in, uint32_t out, float std)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_LINEAR);

	if (!l)
		return;
	l->rows = rows;
	l->in = in;
	l->out = out;
	l->init_std = std;
	pb_done(b, l, (uint64_t)rows * out, (uint64_t)out * in + out);
}

static void pb_relu(struct proxy_builder *b)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_RELU);

	if (l)
		pb_done(b, l, b->cur, 0);
}

/* A k x k convolution; returns the output side (square images). */
static uint32_t pb_conv(struct proxy_builder *b, uint32_t n, uint32_t side, uint32_t cin, uint32_t cout,
			uint32_t k, uint32_t stride, uint32_t pad, float std)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_CONV);
	uint32_t o = (side + 2 * pad - k) / stride + 1;
	uint64_t col = (uint64_t)n * o * o * k * k * cin;

	if (!l)
		return o;
	l->n = n;
	l->h = l->w = side;
	l->cin = cin;
	l->cout = cout;
	l->k = k;
	l->stride = stride;
	l->pad = pad;
	l->oh = l->ow = o;
	l->init_std = std;
	if (col > b->net->max_col)
		b->net->max_col = col;
	pb_done(b, l, (uint64_t)n * o * o * cout, (uint64_t)cout * k * k * cin + cout);
	return o;
}

static uint32_t pb_res_begin(struct proxy_builder *b)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_RES_BEGIN);

	if (!l)
		return 0;
	pb_done(b, l, b->cur, 0);
	return b->net->nlayers - 1;
}

static void pb_res_end(struct proxy_builder *b, uint32_t begin)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_RES_END);

	if (!l)
		return;
	l->pair = begin;
	b->net->layers[begin].pair = b->net->nlayers - 1;
	pb_done(b, l, b->cur, 0);
}

static void pb_layernorm(struct proxy_builder *b, uint32_t rows, uint32_t dim)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_LAYERNORM);

	if (!l)
		return;
	l->rows = rows;
	l->in = l->out = dim;
	l->save_size = 2ull * rows;
	pb_done(b, l, (uint64_t)rows * dim, 2ull * dim);
}

static void pb_attention(struct proxy_builder *b, uint32_t n, uint32_t seq, uint32_t dim, uint32_t heads)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_ATTENTION);
	uint64_t scores = (uint64_t)n * seq * seq;

	if (!l)
		return;
	l->n = n;
	l->seq = seq;
	l->dim = dim;
	l->heads = heads;
	l->save_size = scores * heads;
	if (scores > b->net->max_scores)
		b->net->max_scores = scores;
	pb_done(b, l, (uint64_t)n * seq * dim, 0);
}

static void pb_lstm(struct proxy_builder *b, uint32_t n, uint32_t seq, uint32_t in, uint32_t hidden, float std)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_LSTM);
	uint64_t steps = (uint64_t)n * seq;

	if (!l)
		return;
	l->n = n;
	l->seq = seq;
	l->in = in;
	l->dim = hidden;
	l->init_std = std;
	l->save_size = steps * 4 * hidden + steps * hidden;
	pb_done(b, l, steps * hidden, 4ull * hidden * (in + hidden) + 4ull * hidden);
}

static void pb_embed(struct proxy_builder *b, uint32_t n, uint32_t vocab, uint32_t dim, uint32_t fields,
		     bool mean, float std)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_EMBED);
	uint64_t ids = (uint64_t)n * fields;

	if (!l)
		return;
	l->n = n;
	l->vocab = vocab;
	l->dim = dim;
	l->fields = fields;
	l->mean = mean;
	l->in_size = ids;
	l->need_dx = false;
	l->init_std = std;
	if (ids > b->net->max_ids)
		b->net->max_ids = ids;
	pb_done(b, l, (mean ? n : ids) * (uint64_t)dim, (uint64_t)vocab * dim);
}

static void pb_posadd(struct proxy_builder *b, uint32_t n, uint32_t seq, uint32_t dim, float std)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_POSADD);

	if (!l)
		return;
	l->n = n;
	l->seq = seq;
	l->dim = dim;
	l->init_std = std;
	pb_done(b, l, (uint64_t)n * seq * dim, (uint64_t)seq * dim);
}

static void pb_xent(struct proxy_builder *b, uint32_t rows, uint32_t classes)
{
	struct proxy_layer *l = pb_add(b, PROXY_OP_XENT);

	if (!l)
		return;
	l->rows = rows;
	l->in = l->out = classes;
	l->save_size = rows;
	pb_done(b, l, 1, 0);
}

static uint32_t proxy_resnet_blocks(const struct proxy_spec *s)
{
	uint32_t total = 0;

	for (uint32_t i = 0; i < s->nblocks; i++)
		total += s->blocks[i];
	return total ? total : 1;
}

static void proxy_build_resnet(struct proxy_builder *b, const struct proxy_spec *s)
{
	uint32_t n = s->batch, c = s->width, side;
	float branch = 1.0f / sqrtf((float)proxy_resnet_blocks(s));
	struct proxy_net *net = b->net;

	net->input_size = (uint64_t)n * s->image * s->image * s->channels;
	b->cur = net->input_size;
	if (s->patch == 1)
		side = pb_conv(b, n, s->image, s->channels, c, 3, 1, 1, sqrtf(2.0f / (9 * s->channels)));
	else
		side = pb_conv(b, n, s->image, s->channels, c, s->patch, s->patch, 0,
			       sqrtf(2.0f / (s->patch * s->patch * s->channels)));
	if (b->rc == 0)
		net->layers[0].need_dx = false;
	pb_relu(b);
	for (uint32_t st = 0; st < s->nblocks; st++) {
		if (st > 0) {
			side = pb_conv(b, n, side, c, 2 * c, 3, 2, 1, sqrtf(2.0f / (9 * c)));
			c *= 2;
			pb_relu(b);
		}
		for (uint32_t i = 0; i < s->blocks[st]; i++) {
			uint32_t begin = pb_res_begin(b);

			pb_relu(b);
			pb_conv(b, n, side, c, c, 3, 1, 1, sqrtf(2.0f / (9 * c)));
			pb_relu(b);
			pb_conv(b, n, side, c, c, 3, 1, 1, branch * sqrtf(2.0f / (9 * c)));
			pb_res_end(b, begin);
		}
	}
	pb_relu(b);
	pb_linear(b, n, side * side * c, s->classes, sqrtf(1.0f / (side * side * c)));
	pb_xent(b, n, s->classes);
	net->label_rows = n;
}

static void proxy_build_transformer(struct proxy_builder *b, const struct proxy_spec *s)
{
	uint32_t n = s->batch, rows = s->batch * s->seq, d = s->dim;
	float branch = 1.0f / sqrtf(2.0f * (float)(s->layers ? s->layers : 1));

	b->net->input_ids = true;
	b->net->input_size = rows;
	pb_embed(b, rows, s->vocab, d, 1, false, 1.0f);
	pb_posadd(b, n, s->seq, d, 0.5f);
	for (uint32_t i = 0; i < s->layers; i++) {
		uint32_t begin = pb_res_begin(b);

		pb_layernorm(b, rows, d);
		pb_linear(b, rows, d, 3 * d, sqrtf(1.0f / d));
		pb_attention(b, n, s->seq, d, s->heads);
		pb_linear(b, rows, d, d, branch * sqrtf(1.0f / d));
		pb_res_end(b, begin);
		begin = pb_res_begin(b);
		pb_layernorm(b, rows, d);
		pb_linear(b, rows, d, s->ff, sqrtf(2.0f / d));
		pb_relu(b);
		pb_linear(b, rows, s->ff, d, branch * sqrtf(1.0f / s->ff));
		pb_res_end(b, begin);
	}
	pb_layernorm(b, rows, d);
	pb_linear(b, rows, d, s->classes, sqrtf(1.0f / d));
	pb_xent(b, rows, s->classes);
	b->net->label_rows = rows;
}

static void proxy_build_lstm(struct proxy_builder *b, const struct proxy_spec *s)
{
	uint32_t n = s->batch, rows = s->batch * s->seq, h = s->hidden, in;

	b->net->layout = PROXY_LAYOUT_TIME;
	if (s->vocab) {
		b->net->input_ids = true;
		b->net->input_size = rows;
		pb_embed(b, rows, s->vocab, h, 1, false, 1.0f);
		in = h;
	} else {
		b->net->input_size = (uint64_t)rows * s->input;
		b->cur = b->net->input_size;
		in = s->input;
	}
	for (uint32_t i = 0; i < s->layers; i++) {
		pb_lstm(b, n, s->seq, i ? h : in, h, sqrtf(1.0f / h));
		if (i == 0 && !s->vocab && b->rc == 0)
			b->net->layers[b->net->nlayers - 1].need_dx = false;
	}
	pb_linear(b, rows, h, s->classes, sqrtf(1.0f / h));
	pb_xent(b, rows, s->classes);
	b->net->label_rows = rows;
}

static void proxy_build_recommendation(struct proxy_builder *b, const struct proxy_spec *s)
{
	uint32_t n = s->batch, width = s->pool_mean ? s->dim : s->dim * s->fields;

	b->net->input_ids = true;
	b->net->input_size = (uint64_t)n * s->fields;
	pb_embed(b, n, s->rows, s->dim, s->fields, s->pool_mean != 0, 1.0f);
	for (uint32_t i = 0; i < s->nmlp; i++) {
		pb_linear(b, n, width, s->mlp[i], sqrtf(2.0f / width));
		pb_relu(b);
		width = s->mlp[i];
	}
	pb_linear(b, n, width, s->classes, sqrtf(1.0f / width));
	pb_xent(b, n, s->classes);
	b->net->label_rows = n;
}

int proxy_net_build(const struct proxy_spec *s, struct proxy_net *net, char *err, size_t errlen)
{
	struct proxy_builder b = { .net = net };

	memset(net, 0, sizeof(*net));
	net->spec = *s;
	net->batch = s->batch;
	net->classes = s->classes;
	switch (s->family) {
	case PROXY_RESNET: proxy_build_resnet(&b, s); break;
	case PROXY_TRANSFORMER: proxy_build_transformer(&b, s); break;
	case PROXY_LSTM: proxy_build_lstm(&b, s); break;
	case PROXY_RECOMMENDATION: proxy_build_recommendation(&b, s); break;
	default: b.rc = -EINVAL; break;
	}
	if (b.rc) {
		snprintf(err, errlen, "%s: cannot build the proxy model: %s", s->model,
			 b.rc == -ENOMEM ? "out of memory" : "unknown family");
		proxy_net_free(net);
	}
	return b.rc;
}

void proxy_net_free(struct proxy_net *net)
{
	free(net->layers);
	net->layers = NULL;
	net->nlayers = 0;
}

int proxy_net_single(const struct proxy_layer *l, struct proxy_net *net)
{
	memset(net, 0, sizeof(*net));
	net->layers = malloc(sizeof(*l));
	if (!net->layers)
		return -ENOMEM;
	net->layers[0] = *l;
	net->layers[0].param_off = 0;
	net->nlayers = 1;
	net->nparams = l->nparams;
	net->input_ids = l->op == PROXY_OP_EMBED;
	net->input_size = l->in_size;
	net->max_act = l->out_size;
	net->batch = l->n ? l->n : l->rows;
	if (l->op == PROXY_OP_CONV)
		net->max_col = (uint64_t)l->n * l->oh * l->ow * l->k * l->k * l->cin;
	if (l->op == PROXY_OP_ATTENTION)
		net->max_scores = (uint64_t)l->n * l->seq * l->seq;
	if (l->op == PROXY_OP_EMBED)
		net->max_ids = l->in_size;
	if (l->op == PROXY_OP_XENT) {
		net->label_rows = l->rows;
		net->classes = l->out;
	}
	return 0;
}

/* Forward GEMM FLOPs of a layer, and those of its backward. */
static void proxy_layer_flops(const struct proxy_layer *l, double *fwd, double *bwd)
{
	double f = 0, dw = 0, dx = 0;

	switch (l->op) {
	case PROXY_OP_LINEAR:
		f = dw = dx = 2.0 * l->rows * l->in * l->out;
		break;
	case PROXY_OP_CONV:
		f = dw = dx = 2.0 * l->n * l->oh * l->ow * l->k * l->k * l->cin * l->cout;
		break;
	case PROXY_OP_ATTENTION:
		f = 4.0 * l->n * l->seq * l->seq * l->dim;
		dw = f;		/* dP and dV */
		dx = f;		/* dQ and dK */
		break;
	case PROXY_OP_LSTM: {
		double g = 2.0 * l->n * 4.0 * l->dim;

		f = g * l->seq * l->in + g * (l->seq - 1) * l->dim;
		dw = g * l->seq * l->in + g * (l->seq - 1) * l->dim;
		dx = g * l->seq * l->in;
		dw += g * (l->seq - 1) * l->dim;	/* the recurrent dh, always needed */
		break;
	}
	default:
		break;
	}
	*fwd = f;
	*bwd = dw + (l->need_dx ? dx : 0);
}

void proxy_net_flops(const struct proxy_net *net, double *fwd, double *train)
{
	double f = 0, t = 0;

	for (uint32_t i = 0; i < net->nlayers; i++) {
		double lf, lb;

		proxy_layer_flops(&net->layers[i], &lf, &lb);
		f += lf;
		t += lf + lb;
	}
	*fwd = f;
	*train = t;
}

uint64_t proxy_net_weights(const struct proxy_net *net)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < net->nlayers; i++)
		n += net->layers[i].nparams;
	return n;
}
