/* SPDX-License-Identifier: MIT */
/* Unit tests for the proxy models: default sizes against the real models'
 * parameters and FLOPs, the KEY=VALUE knobs, and the float64 CPU reference:
 * every layer's backward against finite differences, whole tiny models, and
 * tiny models whose loss falls under momentum SGD. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "workloads/proxy.h"
#include "workloads/proxy_ref.h"
#include "workloads/proxy_rng.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void test_defaults_match_targets(void **state)
{
	char err[256];

	(void)state;
	assert_true(proxy_model_count() >= 9);
	for (uint32_t i = 0; i < proxy_model_count(); i++) {
		const char *name = proxy_model_name(i);
		const struct proxy_target *t = proxy_target_find(name);
		struct proxy_spec s;
		struct proxy_net net;
		double fwd, train, pr, fr;

		assert_int_equal(proxy_spec_default(name, &s, err, sizeof(err)), 0);
		assert_int_equal(proxy_spec_check(&s, err, sizeof(err)), 0);
		assert_int_equal(proxy_net_build(&s, &net, err, sizeof(err)), 0);
		assert_non_null(t);
		proxy_net_flops(&net, &fwd, &train);
		pr = (double)proxy_net_weights(&net) / t->params;
		fr = train / s.batch / t->train_flops;
		print_message("%-15s params %7.2f M (x%.2f)  train %9.3g FLOP/sample (x%.2f)\n", name,
			      proxy_net_weights(&net) / 1e6, pr, train / s.batch, fr);
		if (!(pr >= 0.5 && pr <= 2 && fr >= 0.5 && fr <= 2))
			fail_msg("%s: params x%.2f, FLOPs x%.2f of the target", name, pr, fr);
		assert_true(net.nparams >= proxy_net_weights(&net));
		assert_int_equal(net.layers[net.nlayers - 1].op, PROXY_OP_XENT);
		proxy_net_free(&net);
	}
	assert_int_equal(proxy_spec_default("alexnet", &(struct proxy_spec){ 0 }, err, sizeof(err)),
			 ERR_UNKNOWN_MODEL);
	assert_non_null(strstr(err, "resnet50"));
}

/* The per-task batch of every model equals models.csv's. */
static void test_defaults_batch_models_csv(void **state)
{
	FILE *f = fopen(HARE_SOURCE_DIR "/workloads/profiles/models.csv", "r");
	char line[1024], err[128];
	int seen = 0;

	(void)state;
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));	/* header */
	assert_true(strncmp(line, "model,family,per_task_batch,params_millions", 43) == 0);
	while (fgets(line, sizeof(line), f)) {
		char model[64], family[64];
		unsigned batch;
		double params;
		struct proxy_spec s;

		if (sscanf(line, "%63[^,],%63[^,],%u,%lf", model, family, &batch, &params) != 4)
			continue;
		assert_int_equal(proxy_spec_default(model, &s, err, sizeof(err)), 0);
		assert_int_equal(s.batch, batch);
		assert_string_equal(proxy_family_name(s.family), family);
		assert_true(fabs(proxy_target_find(model)->params - params * 1e6) < 1e4);
		seen++;
	}
	fclose(f);
	assert_int_equal(seen, 9);
}

static void test_spec_knobs(void **state)
{
	struct proxy_spec s, t;
	char err[256], buf[512];
	uint64_t h;

	(void)state;
	assert_int_equal(proxy_spec_default("resnet50", &s, err, sizeof(err)), 0);
	h = proxy_spec_hash(&s);
	assert_int_equal(proxy_spec_apply(&s, "image=64,blocks=1-2,width=16,lr=0.5,batch=4", err,
					  sizeof(err)), 0);
	assert_int_equal(s.image, 64);
	assert_int_equal(s.nblocks, 2);
	assert_int_equal(s.blocks[1], 2);
	assert_true(s.lr == 0.5);
	assert_int_equal(proxy_spec_check(&s, err, sizeof(err)), 0);
	assert_true(proxy_spec_hash(&s) != h);
	/* format and apply round trip */
	assert_true(proxy_spec_format(&s, buf, sizeof(buf)) > 0);
	assert_int_equal(proxy_spec_default("resnet50", &t, err, sizeof(err)), 0);
	assert_int_equal(proxy_spec_apply(&t, buf, err, sizeof(err)), 0);
	assert_memory_equal(&s, &t, sizeof(s));
	/* batch and lr leave the parameter layout alone */
	h = proxy_spec_hash(&s);
	assert_int_equal(proxy_spec_apply(&s, "batch=9,lr=0.1,momentum=0", err, sizeof(err)), 0);
	assert_true(proxy_spec_hash(&s) == h);

	static const struct { const char *kv, *want; } bad[] = {
		{ "vocab=10", "unknown key 'vocab' for a resnet model" },
		{ "width", "expected KEY=VALUE" },
		{ "width=0", "width: expected a whole number between 1 and 8192, got '0'" },
		{ "width=1.5", "width: expected a whole number" },
		{ "lr=-1", "lr: expected a number" },
		{ "blocks=1-1-1-1-1-1-1-1-1", "blocks: at most 8 entries" },
		{ "blocks=1--1", "blocks: expected a whole number" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(proxy_spec_default("resnet18", &s, err, sizeof(err)), 0);
		assert_int_equal(proxy_spec_apply(&s, bad[i].kv, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].want))
			fail_msg("'%s': got '%s', want '%s'", bad[i].kv, err, bad[i].want);
	}
	assert_int_equal(proxy_spec_default("resnet18", &s, err, sizeof(err)), 0);
	assert_int_equal(proxy_spec_apply(&s, "image=30", err, sizeof(err)), 0);
	assert_int_equal(proxy_spec_check(&s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "image 30 must be a multiple of 4"));
	assert_int_equal(proxy_spec_default("bert", &s, err, sizeof(err)), 0);
	assert_int_equal(proxy_spec_apply(&s, "heads=5", err, sizeof(err)), 0);
	assert_int_equal(proxy_spec_check(&s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "multiple of heads"));
}

/* ---- finite differences ---- */

static double frand(uint64_t *s)
{
	*s = proxy_mix(*s);
	return (double)(*s >> 11) * 0x1.0p-53 * 2 - 1;
}

/* Scalar objective of a run: the XENT loss, or sum(out * w) otherwise. */
static double objective(struct ref_net *r, const struct proxy_net *net, const double *p,
			const double *x, const int32_t *ids, const int32_t *labels, const double *w)
{
	const struct proxy_layer *last = &net->layers[net->nlayers - 1];
	double *g = calloc(net->nparams + 1, sizeof(double)), loss, s = 0;
	const double *out;

	assert_int_equal(ref_net_run(r, p, x, ids, labels, w, 1.0 / net->label_rows, g, NULL, &loss), 0);
	free(g);
	if (last->op == PROXY_OP_XENT)
		return loss;
	out = ref_net_output(r);
	for (uint64_t i = 0; i < last->out_size; i++)
		s += out[i] * w[i];
	return s;
}

static double rel_err(const double *a, const double *b, uint64_t n)
{
	double d = 0, m = 0;

	for (uint64_t i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		m += b[i] * b[i];
	}
	return m > 0 ? sqrt(d / m) : sqrt(d);
}

/* Check the analytic gradients of net (params and float input) against
 * central differences; returns the larger relative error. */
static double check_net(const struct proxy_net *net, uint64_t seed)
{
	const struct proxy_layer *last = &net->layers[net->nlayers - 1];
	uint64_t np = net->nparams, nx = net->input_size, s = seed;
	double *p = calloc(np + 1, sizeof(double)), *g = calloc(np + 1, sizeof(double));
	double *x = calloc(nx + 1, sizeof(double)), *dx = calloc(nx + 1, sizeof(double));
	double *w = calloc(last->out_size + 1, sizeof(double)), *ng = calloc(np + 1, sizeof(double));
	double *nx_g = calloc(nx + 1, sizeof(double)), loss, e1, e2 = 0, h = 1e-6;
	int32_t *ids = calloc(nx + 1, sizeof(int32_t)), *labels = calloc(net->label_rows + 1, 4);
	struct ref_net *r;

	assert_int_equal(ref_net_new(net, &r), 0);
	for (uint64_t i = 0; i < np; i++)
		p[i] = 0.5 * frand(&s);
	for (uint64_t i = 0; i < nx; i++) {
		x[i] = frand(&s);
		ids[i] = (int32_t)(proxy_mix(s + i) % (net->layers[0].vocab ? net->layers[0].vocab : 1));
	}
	for (uint32_t i = 0; i < net->label_rows; i++)
		labels[i] = (int32_t)(proxy_mix(s + 7 * i) % net->classes);
	for (uint64_t i = 0; i < last->out_size; i++)
		w[i] = frand(&s);
	assert_int_equal(ref_net_run(r, p, x, ids, labels, w, 1.0 / (net->label_rows ? net->label_rows : 1),
				     g, dx, &loss), 0);
	for (uint64_t i = 0; i < np; i++) {
		double keep = p[i], up, down;

		p[i] = keep + h;
		up = objective(r, net, p, x, ids, labels, w);
		p[i] = keep - h;
		down = objective(r, net, p, x, ids, labels, w);
		p[i] = keep;
		ng[i] = (up - down) / (2 * h);
	}
	e1 = rel_err(g, ng, np);
	if (!net->input_ids && net->layers[0].need_dx) {
		for (uint64_t i = 0; i < nx; i++) {
			double keep = x[i], up, down;

			x[i] = keep + h;
			up = objective(r, net, p, x, ids, labels, w);
			x[i] = keep - h;
			down = objective(r, net, p, x, ids, labels, w);
			x[i] = keep;
			nx_g[i] = (up - down) / (2 * h);
		}
		e2 = rel_err(dx, nx_g, nx);
	}
	ref_net_free(r);
	free(p), free(g), free(x), free(dx), free(w), free(ng), free(nx_g), free(ids), free(labels);
	return e1 > e2 ? e1 : e2;
}

static void check_layer(const struct proxy_layer *l, const char *what)
{
	struct proxy_net net;
	double e;

	assert_int_equal(proxy_net_single(l, &net), 0);
	e = check_net(&net, 42);
	print_message("  %-28s rel err %.2e\n", what, e);
	if (!(e < 1e-6))
		fail_msg("%s: relative error %g", what, e);
	proxy_net_free(&net);
}

static void test_layer_gradients(void **state)
{
	struct proxy_layer l;

	(void)state;
	l = (struct proxy_layer){ .op = PROXY_OP_LINEAR, .rows = 3, .in = 4, .out = 5, .in_size = 12,
				  .out_size = 15, .nparams = 25, .need_dx = true };
	check_layer(&l, "linear 3x4 -> 5");
	l = (struct proxy_layer){ .op = PROXY_OP_RELU, .in_size = 10, .out_size = 10, .need_dx = true };
	check_layer(&l, "relu");
	static const uint32_t convs[][6] = {	/* side, cin, cout, k, stride, pad */
		{ 5, 2, 3, 3, 1, 1 }, { 6, 3, 2, 3, 2, 1 }, { 8, 3, 4, 4, 4, 0 }, { 4, 2, 2, 1, 1, 0 },
	};
	for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
		const uint32_t *c = convs[i];
		uint32_t o = (c[0] + 2 * c[5] - c[3]) / c[4] + 1;
		char what[64];

		l = (struct proxy_layer){ .op = PROXY_OP_CONV, .n = 2, .h = c[0], .w = c[0], .cin = c[1],
					  .cout = c[2], .k = c[3], .stride = c[4], .pad = c[5], .oh = o,
					  .ow = o, .need_dx = true };
		l.in_size = 2ull * c[0] * c[0] * c[1];
		l.out_size = 2ull * o * o * c[2];
		l.nparams = (uint64_t)c[2] * c[3] * c[3] * c[1] + c[2];
		snprintf(what, sizeof(what), "conv %ux%u s%u p%u %u->%u", c[3], c[3], c[4], c[5], c[1], c[2]);
		check_layer(&l, what);
	}
	l = (struct proxy_layer){ .op = PROXY_OP_LAYERNORM, .rows = 3, .in = 6, .out = 6, .in_size = 18,
				  .out_size = 18, .nparams = 12, .save_size = 6, .need_dx = true };
	check_layer(&l, "layernorm 3x6");
	l = (struct proxy_layer){ .op = PROXY_OP_ATTENTION, .n = 2, .seq = 3, .dim = 4, .heads = 2,
				  .in_size = 2 * 3 * 12, .out_size = 2 * 3 * 4, .save_size = 2 * 2 * 9,
				  .need_dx = true };
	check_layer(&l, "attention 2 heads, 3 tokens");
	l = (struct proxy_layer){ .op = PROXY_OP_LSTM, .n = 2, .seq = 3, .in = 3, .dim = 4,
				  .in_size = 18, .out_size = 24, .nparams = 16 * 7 + 16,
				  .save_size = 6 * 16 + 6 * 4, .need_dx = true };
	check_layer(&l, "lstm 3 steps, 3 -> 4");
	l = (struct proxy_layer){ .op = PROXY_OP_EMBED, .n = 3, .vocab = 5, .dim = 4, .fields = 2,
				  .in_size = 6, .out_size = 24, .nparams = 20 };
	check_layer(&l, "embed concat");
	l.mean = 1;
	l.out_size = 12;
	check_layer(&l, "embed mean of 2");
	l = (struct proxy_layer){ .op = PROXY_OP_POSADD, .n = 2, .seq = 3, .dim = 2, .in_size = 12,
				  .out_size = 12, .nparams = 6, .need_dx = true };
	check_layer(&l, "position add");
	l = (struct proxy_layer){ .op = PROXY_OP_XENT, .rows = 4, .in = 5, .out = 5, .in_size = 20,
				  .out_size = 1, .save_size = 4, .need_dx = true };
	check_layer(&l, "softmax cross-entropy");
}

/* Tiny versions of every family, as whole nets (residuals included). */
static const struct { const char *model, *kv; } tiny[] = {
	{ "resnet18", "batch=2,image=8,width=3,blocks=1-1,classes=3" },
	{ "resnet50", "batch=2,image=8,patch=2,width=2,blocks=1,classes=3" },
	{ "transformer", "batch=2,vocab=7,seq=3,dim=4,heads=2,ff=6,layers=2,classes=5" },
	{ "lm", "batch=2,vocab=7,seq=3,hidden=4,layers=2,classes=5" },
	{ "deepspeech2", "batch=2,input=5,seq=3,hidden=4,layers=2,classes=4" },
	{ "recommendation", "batch=3,rows=9,fields=3,dim=4,mlp=5-4,classes=4" },
	{ "ncf", "batch=3,rows=9,fields=2,dim=3,mlp=4,classes=2,mean=0" },
};

static void build_tiny(size_t i, const char *extra, struct proxy_net *net)
{
	struct proxy_spec s;
	char err[256];

	assert_int_equal(proxy_spec_default(tiny[i].model, &s, err, sizeof(err)), 0);
	if (proxy_spec_apply(&s, tiny[i].kv, err, sizeof(err)) < 0 ||
	    (extra && proxy_spec_apply(&s, extra, err, sizeof(err)) < 0) ||
	    proxy_spec_check(&s, err, sizeof(err)) < 0)
		fail_msg("%s: %s", tiny[i].model, err);
	assert_int_equal(proxy_net_build(&s, net, err, sizeof(err)), 0);
}

static void test_net_gradients(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tiny) / sizeof(tiny[0]); i++) {
		struct proxy_net net;
		double e;

		build_tiny(i, NULL, &net);
		e = check_net(&net, 7 + i);
		print_message("  %-15s %3u layers %6llu params  rel err %.2e\n", tiny[i].model,
			      net.nlayers, (unsigned long long)net.nparams, e);
		if (!(e < 1e-6))
			fail_msg("%s: relative error %g", tiny[i].model, e);
		proxy_net_free(&net);
	}
}

/* Train a small model on its synthetic data; returns the mean loss of the
 * first and the last `window` rounds. */
static void train(const struct proxy_net *net, uint32_t rounds, uint32_t tasks, double *first,
		  double *last)
{
	uint32_t window = rounds / 10;
	double *p = calloc(net->nparams, sizeof(double)), *v = calloc(net->nparams, sizeof(double));
	double *g = calloc(net->nparams, sizeof(double)), *x = calloc(net->input_size + 1, sizeof(double));
	double *teacher = calloc((size_t)net->classes * proxy_teacher_width(net), sizeof(double));
	int32_t *ids = calloc(net->input_size + 1, 4), *labels = calloc(net->label_rows, 4);
	struct ref_net *r;

	*first = *last = 0;
	assert_int_equal(ref_net_new(net, &r), 0);
	ref_params_init(net, 5, p);
	ref_teacher_fill(net, 5, teacher);
	for (uint32_t round = 0; round < rounds; round++) {
		double loss = 0, l;

		memset(g, 0, net->nparams * sizeof(double));
		for (uint32_t t = 0; t < tasks; t++) {
			ref_batch_fill(net, 5, teacher, round, t, x, ids, labels);
			assert_int_equal(ref_net_run(r, p, x, ids, labels, NULL,
						     1.0 / ((double)net->label_rows * tasks), g, NULL, &l), 0);
			loss += l;
		}
		ref_sgd_update(p, v, g, net->nparams, net->spec.lr, net->spec.momentum, net->spec.clip);
		if (round < window)
			*first += loss / window;
		if (round >= rounds - window)
			*last += loss / window;
	}
	ref_net_free(r);
	free(p), free(v), free(g), free(x), free(teacher), free(ids), free(labels);
}

static void test_training_loss_falls(void **state)
{
	static const struct { const char *model, *kv; } small[] = {
		{ "resnet18", "batch=16,image=8,width=6,blocks=1-1,classes=4" },
		{ "transformer", "batch=8,vocab=16,seq=6,dim=16,heads=2,ff=32,layers=2,classes=8" },
		{ "lm", "batch=8,vocab=16,seq=6,hidden=16,layers=2,classes=16" },
		{ "deepspeech2", "batch=8,input=8,seq=6,hidden=16,layers=2,classes=6" },
		{ "recommendation", "batch=32,rows=40,fields=4,dim=8,mlp=16,classes=8" },
		{ "ncf", "batch=32,rows=40,fields=2,dim=8,mlp=8,classes=2" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		struct proxy_spec s;
		struct proxy_net net;
		char err[256];
		double first, last;

		assert_int_equal(proxy_spec_default(small[i].model, &s, err, sizeof(err)), 0);
		assert_int_equal(proxy_spec_apply(&s, small[i].kv, err, sizeof(err)), 0);
		assert_int_equal(proxy_spec_check(&s, err, sizeof(err)), 0);
		assert_int_equal(proxy_net_build(&s, &net, err, sizeof(err)), 0);
		train(&net, 200, 2, &first, &last);
		print_message("  %-15s loss %.3f -> %.3f over 200 rounds\n", small[i].model, first, last);
		if (!(last < 0.85 * first))
			fail_msg("%s: loss %g -> %g did not fall by 15%%", small[i].model, first, last);
		proxy_net_free(&net);
	}
}

/* The same micro-batch whatever runs it; another task or round differs. */
static void test_data_deterministic(void **state)
{
	struct proxy_net net;
	double teacher[16 * 5], x1[64], x2[64];
	int32_t a[64], b[64], la[64], lb[64];

	(void)state;
	build_tiny(2, NULL, &net);	/* transformer: ids, labels per token */
	ref_teacher_fill(&net, 3, teacher);
	ref_batch_fill(&net, 3, teacher, 10, 1, x1, a, la);
	ref_batch_fill(&net, 3, teacher, 10, 1, x2, b, lb);
	assert_memory_equal(a, b, net.input_size * 4);
	assert_memory_equal(la, lb, net.label_rows * 4);
	ref_batch_fill(&net, 3, teacher, 10, 2, x2, b, lb);
	assert_true(memcmp(a, b, net.input_size * 4) != 0);
	for (uint64_t i = 0; i < net.input_size; i++)
		assert_true(a[i] >= 0 && a[i] < 7);
	proxy_net_free(&net);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_match_targets),
		cmocka_unit_test(test_defaults_batch_models_csv),
		cmocka_unit_test(test_spec_knobs),
		cmocka_unit_test(test_layer_gradients),
		cmocka_unit_test(test_net_gradients),
		cmocka_unit_test(test_training_loss_falls),
		cmocka_unit_test(test_data_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
