/* SPDX-License-Identifier: MIT */
/* hare-gpu-check: the GPU checks of the CUDA engine, run by tests/gpu/run.sh
 * on a machine with a GPU. Sections: grad (every layer and tiny whole models
 * against the float64 CPU reference), train (each model's loss falls),
 * resume (a stopped and restored engine repeats the loss trajectory),
 * allreduce (NCCL bus bandwidth over the GPUs present) and bench (TFLOP/s of
 * a step next to cuBLAS running the same GEMMs). Prints "TABLE<TAB>section
 * <TAB>item<TAB>value<TAB>status" rows; exits 0, 1 (a check failed) or 77
 * (no GPU). Usage: hare-gpu-check [SECTION|all] [ROUNDS] [tiny] ("tiny": the
 * small sizes below for train, resume and bench). */
#include "cuda_api.h"
#include "proxy.h"
#include "proxy_ref.h"
#include "proxy_rng.h"
#include "worker_engine.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GRAD_TOL 1e-3

static int failures;

/* Small sizes of every model: the whole-model gradient checks, and the
 * "tiny" mode of the other sections (for a quick run, or an emulator). */
static const struct { const char *model, *kv; } tiny[] = {
	{ "resnet18", "batch=4,image=16,width=8,blocks=1-1,classes=5" },
	{ "resnet50", "batch=2,image=16,patch=4,width=8,blocks=2,classes=5" },
	{ "yolov3", "batch=8,image=16,patch=2,width=4,blocks=1-0-1,classes=5" },
	{ "transformer", "batch=3,vocab=50,seq=12,dim=32,heads=4,ff=64,layers=2,classes=20" },
	{ "bert", "batch=2,vocab=40,seq=16,dim=16,heads=2,ff=32,layers=1,classes=2" },
	{ "lm", "batch=4,vocab=60,seq=7,hidden=24,layers=2,classes=60" },
	{ "deepspeech2", "batch=3,input=20,seq=9,hidden=24,layers=2,classes=10" },
	{ "recommendation", "batch=16,rows=40,fields=6,dim=16,mlp=32-16,classes=40" },
	{ "ncf", "batch=16,rows=40,fields=2,dim=8,mlp=8,classes=2,mean=0" },
};

#define NTINY (sizeof(tiny) / sizeof(tiny[0]))

/* The tiny sizes of a model, or NULL. */
static const char *tiny_kv(const char *model)
{
	for (size_t i = 0; i < NTINY; i++)
		if (strcmp(tiny[i].model, model) == 0)
			return tiny[i].kv;
	return NULL;
}

static void row(const char *section, const char *item, const char *status, const char *fmt, ...)
{
	char value[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof(value), fmt, ap);
	va_end(ap);
	printf("TABLE\t%s\t%s\t%s\t%s\n", section, item, value, status);
	fflush(stdout);
	if (strcmp(status, "FAIL") == 0)
		failures++;
}

static double frand(uint64_t *s)
{
	*s = proxy_mix(*s);
	return (double)(*s >> 11) * 0x1.0p-53 * 2 - 1;
}

/* ||a - b|| / ||b|| (absolute when b is 0) over n values. */
static double rel_err(const float *a, const double *b, uint64_t n)
{
	double d = 0, m = 0;

	for (uint64_t i = 0; i < n; i++) {
		d += (a[i] - b[i]) * (a[i] - b[i]);
		m += b[i] * b[i];
	}
	return m > 0 ? sqrt(d / m) : sqrt(d);
}

/* The worst error over the layers' parameter slices; slices whose gradient
 * is tiny next to the whole are compared against the whole's norm. */
static double grads_err(const struct proxy_net *net, const float *g, const double *ref)
{
	double total = 0, worst = 0;

	for (uint64_t i = 0; i < net->nparams; i++)
		total += ref[i] * ref[i];
	total = sqrt(total);
	for (uint32_t i = 0; i < net->nlayers; i++) {
		const struct proxy_layer *l = &net->layers[i];
		double d = 0, m = 0, e;

		for (uint64_t j = l->param_off; j < l->param_off + l->nparams; j++) {
			d += (g[j] - ref[j]) * (g[j] - ref[j]);
			m += ref[j] * ref[j];
		}
		if (l->nparams == 0)
			continue;
		e = sqrt(d) / fmax(sqrt(m), 1e-3 * total + 1e-30);
		worst = fmax(worst, e);
	}
	return worst;
}

/* Run net on the CPU (float64) and the GPU with the same float data and
 * compare the output, the parameter gradients and the input gradient. */
static void grad_check(const struct proxy_net *net, const char *name, bool model_init)
{
	const struct proxy_layer *last = &net->layers[net->nlayers - 1];
	uint64_t np = net->nparams, nx = net->input_size, no = last->out_size, s = 99;
	float *p = calloc(np + 1, 4), *x = calloc(nx + 1, 4), *dout = calloc(no + 1, 4);
	float *out = calloc(no + 1, 4), *g = calloc(np + 1, 4), *dx = calloc(nx + 1, 4);
	double *pd = calloc(np + 1, 8), *xd = calloc(nx + 1, 8), *doutd = calloc(no + 1, 8);
	double *gd = calloc(np + 1, 8), *dxd = calloc(nx + 1, 8), loss, e_out, e_g, e_dx = 0;
	int32_t *ids = calloc(nx + 1, 4), *labels = calloc(net->label_rows + 1, 4);
	double gscale = 1.0 / (net->label_rows ? net->label_rows : 1);
	struct ref_net *r;
	char err[512];
	uint32_t vocab = net->layers[0].vocab;

	if (model_init)
		ref_params_init(net, 5, pd);
	for (uint64_t i = 0; i < np; i++)
		pd[i] = p[i] = (float)(model_init ? pd[i] : 0.5 * frand(&s));
	for (uint64_t i = 0; i < nx; i++) {
		xd[i] = x[i] = (float)frand(&s);
		ids[i] = vocab ? (int32_t)(proxy_mix(s + i) % vocab) : 0;
	}
	for (uint32_t i = 0; i < net->label_rows; i++)
		labels[i] = (int32_t)(proxy_mix(s + 3 * i) % net->classes);
	for (uint64_t i = 0; i < no; i++)
		doutd[i] = dout[i] = (float)frand(&s);
	if (ref_net_new(net, &r) < 0 || ref_net_run(r, pd, xd, ids, labels, doutd, gscale, gd, dxd, &loss) < 0) {
		row("grad", name, "FAIL", "CPU reference failed");
		goto out;
	}
	if (hare_cuda_net_check(net, 0, p, x, ids, labels, dout, (float)gscale, out, g, dx, err,
				sizeof(err)) < 0) {
		row("grad", name, "FAIL", "%s", err);
		ref_net_free(r);
		goto out;
	}
	e_out = rel_err(out, ref_net_output(r), no);
	e_g = np ? grads_err(net, g, gd) : 0;
	if (!net->input_ids && net->layers[0].need_dx)
		e_dx = rel_err(dx, dxd, nx);
	ref_net_free(r);
	row("grad", name, e_out <= GRAD_TOL && e_g <= GRAD_TOL && e_dx <= GRAD_TOL ? "ok" : "FAIL",
	    "out %.1e  dW %.1e  dx %.1e", e_out, e_g, e_dx);
out:
	free(p), free(x), free(dout), free(out), free(g), free(dx), free(pd), free(xd), free(doutd);
	free(gd), free(dxd), free(ids), free(labels);
}

static void grad_layer(const struct proxy_layer *l, const char *name)
{
	struct proxy_net net;

	if (proxy_net_single(l, &net) < 0)
		return;
	grad_check(&net, name, false);
	proxy_net_free(&net);
}

/* Every kind of layer alone (several convolution shapes). */
static void grad_layers(void)
{
	static const uint32_t convs[][6] = {	/* side, cin, cout, k, stride, pad */
		{ 12, 3, 16, 3, 1, 1 }, { 12, 8, 16, 3, 2, 1 }, { 16, 3, 8, 4, 4, 0 }, { 8, 8, 8, 1, 1, 0 },
	};
	struct proxy_layer l;
	char name[64];

	l = (struct proxy_layer){ .op = PROXY_OP_LINEAR, .rows = 37, .in = 96, .out = 80, .in_size = 37 * 96,
				  .out_size = 37 * 80, .nparams = 80 * 96 + 80, .need_dx = true };
	grad_layer(&l, "linear 37x96->80");
	l = (struct proxy_layer){ .op = PROXY_OP_RELU, .in_size = 1000, .out_size = 1000, .need_dx = true };
	grad_layer(&l, "relu");
	for (size_t i = 0; i < sizeof(convs) / sizeof(convs[0]); i++) {
		const uint32_t *c = convs[i];
		uint32_t o = (c[0] + 2 * c[5] - c[3]) / c[4] + 1;

		l = (struct proxy_layer){ .op = PROXY_OP_CONV, .n = 3, .h = c[0], .w = c[0], .cin = c[1],
					  .cout = c[2], .k = c[3], .stride = c[4], .pad = c[5], .oh = o,
					  .ow = o, .need_dx = true };
		l.in_size = 3ull * c[0] * c[0] * c[1];
		l.out_size = 3ull * o * o * c[2];
		l.nparams = (uint64_t)c[2] * c[3] * c[3] * c[1] + c[2];
		snprintf(name, sizeof(name), "conv %ux%u s%u %u->%u", c[3], c[3], c[4], c[1], c[2]);
		grad_layer(&l, name);
	}
	l = (struct proxy_layer){ .op = PROXY_OP_LAYERNORM, .rows = 20, .in = 300, .out = 300,
				  .in_size = 6000, .out_size = 6000, .nparams = 600, .save_size = 40,
				  .need_dx = true };
	grad_layer(&l, "layernorm 20x300");
	l = (struct proxy_layer){ .op = PROXY_OP_ATTENTION, .n = 3, .seq = 40, .dim = 64, .heads = 4,
				  .in_size = 3 * 40 * 192, .out_size = 3 * 40 * 64,
				  .save_size = 4 * 3 * 40 * 40, .need_dx = true };
	grad_layer(&l, "attention 4 heads, 40 tokens");
	l = (struct proxy_layer){ .op = PROXY_OP_LSTM, .n = 5, .seq = 9, .in = 12, .dim = 32,
				  .in_size = 45 * 12, .out_size = 45 * 32, .nparams = 128 * 44 + 128,
				  .save_size = 45 * 128 + 45 * 32, .need_dx = true };
	grad_layer(&l, "lstm 9 steps, 12->32");
	l = (struct proxy_layer){ .op = PROXY_OP_EMBED, .n = 30, .vocab = 50, .dim = 24, .fields = 4,
				  .in_size = 120, .out_size = 120 * 24, .nparams = 50 * 24 };
	grad_layer(&l, "embedding concat");
	l.mean = 1;
	l.out_size = 30 * 24;
	grad_layer(&l, "embedding mean of 4");
	l = (struct proxy_layer){ .op = PROXY_OP_POSADD, .n = 4, .seq = 10, .dim = 16, .in_size = 640,
				  .out_size = 640, .nparams = 160, .need_dx = true };
	grad_layer(&l, "position add");
	l = (struct proxy_layer){ .op = PROXY_OP_XENT, .rows = 33, .in = 1000, .out = 1000,
				  .in_size = 33000, .out_size = 1, .save_size = 33, .need_dx = true };
	grad_layer(&l, "cross-entropy 1000 classes");
}

/* A layer over cuBLAS's int dimensions is refused before any allocation. */
static void grad_too_big(void)
{
	struct proxy_layer l = { .op = PROXY_OP_LINEAR, .rows = 3000000000u, .in = 1, .out = 1,
				 .in_size = 3000000000ull, .out_size = 3000000000ull, .nparams = 2 };
	struct proxy_net net;
	char err[512] = "";
	int rc;

	if (proxy_net_single(&l, &net) < 0)
		return;
	rc = hare_cuda_net_check(&net, 0, NULL, NULL, NULL, NULL, NULL, 1, NULL, NULL, NULL, err,
				 sizeof(err));
	row("grad", "linear of 3e9 rows", rc == -EINVAL ? "ok" : "FAIL", "refused: %s", err);
	proxy_net_free(&net);
}

/* Tiny whole models (residual branches, the executor, the head). */
static void grad_models(void)
{
	char name[64];

	for (size_t i = 0; i < NTINY; i++) {
		struct proxy_spec s;
		struct proxy_net net;

		if (proxy_spec_default(tiny[i].model, &s, name, sizeof(name)) < 0 ||
		    proxy_spec_apply(&s, tiny[i].kv, name, sizeof(name)) < 0 ||
		    proxy_net_build(&s, &net, name, sizeof(name)) < 0)
			continue;
		snprintf(name, sizeof(name), "model %s (tiny)", tiny[i].model);
		grad_check(&net, name, true);
		proxy_net_free(&net);
	}
}

static void section_grad(void)
{
	grad_layers();
	grad_too_big();
	grad_models();
}

/* Open the engine on one GPU for a model (sizes overridden by kv). */
static int open_engine(const struct engine_ops *ops, const char *model, const char *kv,
		       struct proxy_net *net, void **eng, char *err, size_t errlen)
{
	struct proxy_spec s;
	struct engine_conf c = { .net = net, .seed = 7, .world_size = 1, .tasks = 1, .job_tasks = 1 };
	int rc;

	if ((rc = proxy_spec_default(model, &s, err, errlen)) < 0 ||
	    (kv && (rc = proxy_spec_apply(&s, kv, err, errlen)) < 0) ||
	    (rc = proxy_spec_check(&s, err, errlen)) < 0 ||
	    (rc = proxy_net_build(&s, net, err, errlen)) < 0)
		return rc;
	rc = ops->open(&c, eng, err, errlen);
	if (rc < 0)
		proxy_net_free(net);
	return rc;
}

static void section_train(uint32_t rounds, bool small)
{
	const struct engine_ops *ops = hare_worker_cuda_engine();
	uint32_t window = rounds / 10 ? rounds / 10 : 1;

	for (uint32_t m = 0; m < proxy_model_count(); m++) {
		const char *model = proxy_model_name(m);
		double first = 0, last = 0, secs = 0;
		struct proxy_net net;
		char err[512];
		void *eng;
		int rc = open_engine(ops, model, small ? tiny_kv(model) : NULL, &net, &eng, err, sizeof(err));

		for (uint32_t r = 0; rc == 0 && r < rounds; r++) {
			struct engine_round rr;

			rc = ops->round_run(eng, r, false, &rr, err, sizeof(err));
			first += r < window ? rr.loss / window : 0;
			last += r >= rounds - window ? rr.loss / window : 0;
			secs += rr.compute_s;
		}
		if (rc == 0) {
			ops->close(eng);
			proxy_net_free(&net);
		}
		if (rc < 0)
			row("train", model, "FAIL", "%s", err);
		else
			row("train", model, last < first && isfinite(last) ? "ok" : "FAIL",
			    "loss %.4f -> %.4f over %u rounds, %.2f ms/round", first, last, rounds,
			    secs / rounds * 1e3);
	}
}

/* Run rounds [from, to) and keep their losses. */
static int run_rounds(const struct engine_ops *ops, void *eng, uint32_t from, uint32_t to,
		      double *loss, char *err, size_t errlen)
{
	for (uint32_t r = from; r < to; r++) {
		struct engine_round rr;
		int rc = ops->round_run(eng, r, false, &rr, err, errlen);

		if (rc < 0)
			return rc;
		loss[r] = rr.loss;
	}
	return 0;
}

/* 10 rounds, the state copied out, a new engine with it: rounds 10-19 must
 * repeat the uninterrupted run's losses bit for bit. */
static int resume_run(const struct engine_ops *ops, const struct proxy_net *net, double *full,
		      double *again, char *err, size_t errlen)
{
	struct engine_conf c = { .net = net, .seed = 7, .world_size = 1, .tasks = 1, .job_tasks = 1 };
	float *p = malloc(net->nparams * 4), *v = malloc(net->nparams * 4);
	void *eng = NULL;
	int rc = p && v ? ops->open(&c, &eng, err, errlen) : -12;

	if (rc == 0)
		rc = run_rounds(ops, eng, 0, 20, full, err, errlen);
	if (eng)
		ops->close(eng);
	eng = NULL;
	if (rc == 0 && (rc = ops->open(&c, &eng, err, errlen)) == 0) {
		rc = run_rounds(ops, eng, 0, 10, again, err, errlen);
		if (rc == 0)
			rc = ops->state_get(eng, p, v, err, errlen);
		ops->close(eng);
		eng = NULL;
	}
	if (rc == 0 && (rc = ops->open(&c, &eng, err, errlen)) == 0) {
		rc = ops->state_set(eng, p, v, err, errlen);
		if (rc == 0)
			rc = run_rounds(ops, eng, 10, 20, again, err, errlen);
		ops->close(eng);
	}
	free(p);
	free(v);
	return rc;
}

static void section_resume(bool small)
{
	const struct engine_ops *ops = hare_worker_cuda_engine();
	static const char *const models[] = { "lm", "resnet18", "transformer", "recommendation" };

	for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
		struct proxy_spec s;
		struct proxy_net net;
		double full[20], again[20];
		char err[512];
		int same = 1, rc;

		if (proxy_spec_default(models[m], &s, err, sizeof(err)) < 0 ||
		    (small && proxy_spec_apply(&s, tiny_kv(models[m]), err, sizeof(err)) < 0) ||
		    proxy_net_build(&s, &net, err, sizeof(err)) < 0)
			continue;
		rc = resume_run(ops, &net, full, again, err, sizeof(err));
		for (int r = 0; rc == 0 && r < 20; r++)
			same &= full[r] == again[r];
		if (rc < 0)
			row("resume", models[m], "FAIL", "%s", err);
		else
			row("resume", models[m], same ? "ok" : "FAIL", "20 rounds, restored at 10: %s",
			    same ? "identical losses" : "losses differ");
		proxy_net_free(&net);
	}
}

static void section_allreduce(void)
{
	const struct engine_ops *ops = hare_worker_cuda_engine();
	static const double mib[] = { 8, 64, 256, 1024 };
	char name[128], err[512];
	int gpus = ops->devices(name, sizeof(name), err, sizeof(err));

	if (gpus < 1) {
		row("allreduce", "nccl", "skip", "no GPU: %s", err);
		return;
	}
	for (size_t i = 0; i < sizeof(mib) / sizeof(mib[0]); i++) {
		uint64_t floats = (uint64_t)(mib[i] * 1048576 / 4);
		double s, busbw;
		char item[64];

		snprintf(item, sizeof(item), "%d GPU%s, %g MiB", gpus, gpus > 1 ? "s" : "", mib[i]);
		if (ops->allreduce_time(floats, (uint32_t)gpus, 20, &s, err, sizeof(err)) < 0) {
			row("allreduce", item, "FAIL", "%s", err);
			continue;
		}
		if (gpus == 1) {
			/* NCCL over one rank is a copy within the GPU: it runs, and
			 * there is no link to measure */
			row("allreduce", item, "ok", "%.3f ms; world size 1 (one GPU): NCCL runs, "
			    "nothing crosses a link, no bus bandwidth to measure", s * 1e3);
			continue;
		}
		busbw = 2.0 * (gpus - 1) / gpus * floats * 4 / s / 1e9;
		row("allreduce", item, "ok", "%.3f ms, bus bandwidth %.1f GB/s", s * 1e3, busbw);
	}
}

static void section_bench(bool small)
{
	for (uint32_t m = 0; m < proxy_model_count(); m++) {
		const char *model = proxy_model_name(m);
		struct hare_cuda_bench b;
		struct proxy_spec s;
		struct proxy_net net;
		double fwd, train, achieved, ceiling;
		char err[512];

		if (proxy_spec_default(model, &s, err, sizeof(err)) < 0 ||
		    (small && proxy_spec_apply(&s, tiny_kv(model), err, sizeof(err)) < 0) ||
		    proxy_net_build(&s, &net, err, sizeof(err)) < 0)
			continue;
		proxy_net_flops(&net, &fwd, &train);
		if (hare_cuda_bench_step(&net, 0, 10, &b, err, sizeof(err)) < 0) {
			row("bench", model, "FAIL", "%s", err);
			proxy_net_free(&net);
			continue;
		}
		achieved = train / b.step_s / 1e12;
		ceiling = b.gemm_flops / b.gemm_s / 1e12;
		row("bench", model, achieved >= 0.6 * ceiling ? "ok" : "below",
		    "step %.2f ms: %.2f TFLOP/s; its %u GEMMs alone %.2f TFLOP/s (%.0f%%)",
		    b.step_s * 1e3, achieved, b.gemms, ceiling, 100 * achieved / ceiling);
		proxy_net_free(&net);
	}
}

int main(int argc, char **argv)
{
	const struct engine_ops *ops = hare_worker_cuda_engine();
	const char *what = argc > 1 ? argv[1] : "all";
	char name[128], err[512];
	uint32_t rounds = argc > 2 ? (uint32_t)atoi(argv[2]) : 200;
	bool small = argc > 3 && strcmp(argv[3], "tiny") == 0;

	if (ops->devices(name, sizeof(name), err, sizeof(err)) < 1) {
		fprintf(stderr, "hare-gpu-check: %s\n", err);
		return 77;
	}
	fprintf(stderr, "hare-gpu-check: %s on %s\n", what, name);
	if (!strcmp(what, "grad") || !strcmp(what, "all"))
		section_grad();
	if (!strcmp(what, "train") || !strcmp(what, "all"))
		section_train(rounds ? rounds : 200, small);
	if (!strcmp(what, "resume") || !strcmp(what, "all"))
		section_resume(small);
	if (!strcmp(what, "allreduce") || !strcmp(what, "all"))
		section_allreduce();
	if (!strcmp(what, "bench") || !strcmp(what, "all"))
		section_bench(small);
	return failures ? 1 : 0;
}
