/* SPDX-License-Identifier: MIT */
/* The CPU reference's net executor (residual branches included), parameter
 * initialisation, synthetic data with its random teacher, and momentum SGD. */
#include "proxy_ref.h"
#include "proxy_rng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ref_net {
	const struct proxy_net *net;
	double **act;		/* act[i]: output of layer i (RES_BEGIN: its input) */
	double **save;
	double **dact;		/* gradient of act[i] */
	double *din;		/* input gradient of the layer being run back */
	double *x0;		/* the float input of the latest run */
	double *dx0;
};

static void ref_net_release(struct ref_net *r)
{
	const struct proxy_net *net = r->net;

	for (uint32_t i = 0; i < net->nlayers; i++) {
		if (net->layers[i].op != PROXY_OP_RES_BEGIN)
			free(r->act[i]);
		free(r->save[i]);
		free(r->dact[i]);
	}
	free(r->act);
	free(r->save);
	free(r->dact);
	free(r->din);
	free(r->dx0);
}

int ref_net_new(const struct proxy_net *net, struct ref_net **out)
{
	struct ref_net *r = calloc(1, sizeof(*r));
	uint32_t n = net->nlayers;
	bool ok;

	if (!r)
		return -ENOMEM;
	r->net = net;
	r->act = calloc(n, sizeof(double *));
	r->save = calloc(n, sizeof(double *));
	r->dact = calloc(n, sizeof(double *));
	r->din = malloc((net->max_act > net->input_size ? net->max_act : net->input_size) * sizeof(double) + 8);
	r->dx0 = calloc(net->input_size + 1, sizeof(double));
	ok = r->act && r->save && r->dact && r->din && r->dx0;
	for (uint32_t i = 0; ok && i < n; i++) {
		const struct proxy_layer *l = &net->layers[i];

		if (l->op != PROXY_OP_RES_BEGIN)
			ok &= (r->act[i] = calloc(l->out_size, sizeof(double))) != NULL;
		ok &= (r->dact[i] = calloc(l->out_size, sizeof(double))) != NULL;
		if (l->save_size)
			ok &= (r->save[i] = calloc(l->save_size, sizeof(double))) != NULL;
	}
	if (!ok) {
		if (r->act && r->save && r->dact)
			ref_net_release(r);
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void ref_net_free(struct ref_net *r)
{
	if (!r)
		return;
	ref_net_release(r);
	free(r);
}

const double *ref_net_output(const struct ref_net *r)
{
	return r->act[r->net->nlayers - 1];
}

/* Input of layer i: the previous output, or the net's input. */
static const double *ref_in(const struct ref_net *r, uint32_t i)
{
	return i ? r->act[i - 1] : r->x0;
}

static int ref_net_forward(struct ref_net *r, const double *params, const int32_t *ids,
			   const int32_t *labels, double gscale)
{
	const struct proxy_net *net = r->net;

	for (uint32_t i = 0; i < net->nlayers; i++) {
		const struct proxy_layer *l = &net->layers[i];
		const double *in = ref_in(r, i);
		int rc = 0;

		if (l->op == PROXY_OP_RES_BEGIN) {
			r->act[i] = (double *)in;
		} else if (l->op == PROXY_OP_RES_END) {
			const double *skip = r->act[l->pair];

			for (uint64_t j = 0; j < l->out_size; j++)
				r->act[i][j] = in[j] + skip[j];
		} else {
			rc = ref_layer_forward(l, params + l->param_off, in, ids, labels, gscale,
					       r->act[i], r->save[i]);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Add v into the gradient of layer i's input (the net input's when i = 0). */
static void ref_in_grad_add(struct ref_net *r, uint32_t i, const double *v, uint64_t n)
{
	double *d = i ? r->dact[i - 1] : r->dx0;

	for (uint64_t j = 0; j < n; j++)
		d[j] += v[j];
}

static void ref_net_backward(struct ref_net *r, const double *params, const int32_t *ids,
			     const int32_t *labels, double gscale, double *grads)
{
	const struct proxy_net *net = r->net;

	for (uint32_t i = net->nlayers; i-- > 0;) {
		const struct proxy_layer *l = &net->layers[i];
		bool want_dx = i > 0 ? true : l->need_dx && !net->input_ids;

		if (l->op == PROXY_OP_RES_BEGIN || l->op == PROXY_OP_RES_END) {
			if (l->op == PROXY_OP_RES_END)
				ref_in_grad_add(r, l->pair + 1, r->dact[i], l->out_size);
			ref_in_grad_add(r, i, r->dact[i], l->out_size);
			continue;
		}
		ref_layer_backward(l, params + l->param_off, ref_in(r, i), ids, labels, gscale,
				   r->act[i], r->save[i], r->dact[i], want_dx ? r->din : NULL,
				   grads + l->param_off);
		if (want_dx)
			ref_in_grad_add(r, i, r->din, l->in_size);
	}
}

int ref_net_run(struct ref_net *r, const double *params, const double *x, const int32_t *ids,
		const int32_t *labels, const double *dout, double gscale, double *grads, double *dx,
		double *loss)
{
	const struct proxy_net *net = r->net;
	const struct proxy_layer *last = &net->layers[net->nlayers - 1];
	int rc;

	r->x0 = (double *)x;
	rc = ref_net_forward(r, params, ids, labels, gscale);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < net->nlayers; i++)
		memset(r->dact[i], 0, net->layers[i].out_size * sizeof(double));
	memset(r->dx0, 0, net->input_size * sizeof(double));
	if (last->op != PROXY_OP_XENT)
		memcpy(r->dact[net->nlayers - 1], dout, last->out_size * sizeof(double));
	ref_net_backward(r, params, ids, labels, gscale, grads);
	if (dx && !net->input_ids)
		memcpy(dx, r->dx0, net->input_size * sizeof(double));
	*loss = last->op == PROXY_OP_XENT ? r->act[net->nlayers - 1][0] : 0;
	return 0;
}

void ref_params_init(const struct proxy_net *net, uint64_t seed, double *params)
{
	memset(params, 0, net->nparams * sizeof(double));
	for (uint32_t i = 0; i < net->nlayers; i++) {
		const struct proxy_layer *l = &net->layers[i];

		for (uint64_t j = 0; j < l->nparams; j++) {
			int kind = proxy_param_init(l, j);
			uint64_t at = l->param_off + j;

			params[at] = kind == PROXY_INIT_ONE ? 1.0 : kind == PROXY_INIT_ZERO ? 0.0
				   : l->init_std * proxy_rng_normal(seed, PROXY_STREAM_INIT, at);
		}
	}
}

uint32_t proxy_teacher_width(const struct proxy_net *net)
{
	if (net->spec.family == PROXY_RESNET)
		return PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * net->spec.channels;
	if (net->spec.family == PROXY_LSTM && net->spec.vocab == 0)
		return net->spec.input < PROXY_TEACHER_RANK ? net->spec.input : PROXY_TEACHER_RANK;
	return PROXY_TEACHER_RANK;
}

void ref_teacher_fill(const struct proxy_net *net, uint64_t seed, double *teacher)
{
	uint64_t n = (uint64_t)net->classes * proxy_teacher_width(net);

	for (uint64_t i = 0; i < n; i++)
		teacher[i] = proxy_rng_normal(seed, PROXY_STREAM_TEACHER, i);
}

/* Label = the class whose teacher row has the largest dot with the features. */
static int32_t ref_teacher_label(const struct proxy_net *net, const double *teacher, const double *h)
{
	uint32_t w = proxy_teacher_width(net);
	double best = -INFINITY;
	int32_t label = 0;

	for (uint32_t c = 0; c < net->classes; c++) {
		double s = 0;

		for (uint32_t j = 0; j < w; j++)
			s += teacher[(uint64_t)c * w + j] * h[j];
		if (s > best) {
			best = s;
			label = (int32_t)c;
		}
	}
	return label;
}

static void ref_batch_images(const struct proxy_net *net, uint64_t key, const double *teacher,
			     double *x, int32_t *labels)
{
	const struct proxy_spec *s = &net->spec;
	uint32_t G = PROXY_IMAGE_GRID, C = s->channels, S = s->image, cell = S / G;
	double h[PROXY_IMAGE_GRID * PROXY_IMAGE_GRID * 64];

	for (uint32_t n = 0; n < s->batch; n++) {
		for (uint32_t f = 0; f < G * G * C; f++)
			h[f] = proxy_rng_normal(key, PROXY_STREAM_LATENT, (uint64_t)n * G * G * C + f);
		for (uint64_t p = 0; p < (uint64_t)S * S * C; p++) {
			uint32_t c = p % C, xx = (p / C) % S, yy = (uint32_t)(p / C / S);
			uint64_t at = (uint64_t)n * S * S * C + p;

			x[at] = h[((yy / cell) * G + xx / cell) * C + c] +
				proxy_rng_normal(key, PROXY_STREAM_NOISE, at);
		}
		labels[n] = ref_teacher_label(net, teacher, h);
	}
}

/* Index of the previous step of sequence row r, or -1 at a sequence start. */
static int64_t ref_prev_row(const struct proxy_net *net, uint64_t r)
{
	uint32_t T = net->spec.seq, N = net->spec.batch;

	if (net->layout == PROXY_LAYOUT_TIME)
		return r >= N ? (int64_t)(r - N) : -1;
	return r % T ? (int64_t)r - 1 : -1;
}

static void ref_batch_tokens(const struct proxy_net *net, uint64_t seed, uint64_t key,
			     const double *teacher, int32_t *ids, int32_t *labels)
{
	uint32_t R = PROXY_TEACHER_RANK, V = net->spec.vocab;
	double h[PROXY_TEACHER_RANK];

	for (uint64_t r = 0; r < net->input_size; r++)
		ids[r] = (int32_t)(proxy_rng_u64(key, PROXY_STREAM_IDS, r) % V);
	for (uint64_t r = 0; r < net->label_rows; r++) {
		int64_t p = ref_prev_row(net, r);

		for (uint32_t j = 0; j < R; j++) {
			h[j] = proxy_rng_normal(seed, PROXY_STREAM_TEACHER_A, (uint64_t)ids[r] * R + j);
			if (p >= 0)
				h[j] += proxy_rng_normal(seed, PROXY_STREAM_TEACHER_B, (uint64_t)ids[p] * R + j);
		}
		labels[r] = ref_teacher_label(net, teacher, h);
	}
}

static void ref_batch_frames(const struct proxy_net *net, uint64_t key, const double *teacher,
			     double *x, int32_t *labels)
{
	uint32_t I = net->spec.input, w = proxy_teacher_width(net);
	double h[PROXY_TEACHER_RANK];

	for (uint64_t i = 0; i < net->input_size; i++)
		x[i] = proxy_rng_normal(key, PROXY_STREAM_FRAMES, i);
	for (uint64_t r = 0; r < net->label_rows; r++) {
		int64_t p = ref_prev_row(net, r);

		for (uint32_t j = 0; j < w; j++)
			h[j] = x[r * I + j] + (p >= 0 ? 0.5 * x[(uint64_t)p * I + j] : 0);
		labels[r] = ref_teacher_label(net, teacher, h);
	}
}

static void ref_batch_items(const struct proxy_net *net, uint64_t seed, uint64_t key,
			    const double *teacher, int32_t *ids, int32_t *labels)
{
	uint32_t R = PROXY_TEACHER_RANK, F = net->spec.fields;
	double h[PROXY_TEACHER_RANK];

	for (uint64_t i = 0; i < net->input_size; i++)
		ids[i] = (int32_t)(proxy_rng_u64(key, PROXY_STREAM_IDS, i) % net->spec.rows);
	for (uint32_t n = 0; n < net->batch; n++) {
		for (uint32_t j = 0; j < R; j++) {
			h[j] = 0;
			for (uint32_t f = 0; f < F; f++)
				h[j] += proxy_rng_normal(seed, PROXY_STREAM_TEACHER_A,
							 (uint64_t)ids[(uint64_t)n * F + f] * R + j);
		}
		labels[n] = ref_teacher_label(net, teacher, h);
	}
}

void ref_batch_fill(const struct proxy_net *net, uint64_t seed, const double *teacher,
		    uint64_t round, uint64_t task, double *x, int32_t *ids, int32_t *labels)
{
	uint64_t key = proxy_batch_key(seed, round, task);

	switch (net->spec.family) {
	case PROXY_RESNET: ref_batch_images(net, key, teacher, x, labels); break;
	case PROXY_TRANSFORMER: ref_batch_tokens(net, seed, key, teacher, ids, labels); break;
	case PROXY_LSTM:
		if (net->spec.vocab)
			ref_batch_tokens(net, seed, key, teacher, ids, labels);
		else
			ref_batch_frames(net, key, teacher, x, labels);
		break;
	case PROXY_RECOMMENDATION: ref_batch_items(net, seed, key, teacher, ids, labels); break;
	}
}

void ref_sgd_update(double *p, double *v, const double *g, uint64_t n, double lr, double momentum,
		    double clip)
{
	double norm = 0, scale = 1;

	if (clip > 0) {
		for (uint64_t i = 0; i < n; i++)
			norm += g[i] * g[i];
		norm = sqrt(norm);
		if (norm > clip)
			scale = clip / norm;
	}
	for (uint64_t i = 0; i < n; i++) {
		v[i] = momentum * v[i] + scale * g[i];
		p[i] -= lr * v[i];
	}
}
