/* SPDX-License-Identifier: MIT */
/* The float64 CPU reference of the proxy models: every layer's forward and
 * backward written plainly (direct loops, no im2col), a net executor, the
 * synthetic data and teacher, and momentum SGD. It defines what the CUDA
 * engine must compute, trains tiny models in the unit tests, and backs
 * hare-worker --engine cpu. */
#ifndef HARE_PROXY_REF_H
#define HARE_PROXY_REF_H

#include <stddef.h>
#include <stdint.h>

#include "proxy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* LayerNorm epsilon, the same in the kernels. */
#define PROXY_LN_EPS 1e-5

/*
 * Forward of one layer (not RES_BEGIN/RES_END, which the executor handles):
 * in -> out, keeping l->save_size values in save. p is the layer's slice of
 * the parameters; ids is EMBED's input; labels and gscale are XENT's (its out
 * is one value: gscale x the summed row losses). Returns 0 or -EINVAL for an
 * id or label out of range.
 */
int ref_layer_forward(const struct proxy_layer *l, const double *p, const double *in,
		      const int32_t *ids, const int32_t *labels, double gscale, double *out,
		      double *save);

/*
 * Backward of one layer: from dout (ignored by XENT, whose loss is the end)
 * ADD the parameter gradients into dp, and WRITE the input gradient into din
 * when din is not NULL. in, out and save are what forward used and made.
 */
void ref_layer_backward(const struct proxy_layer *l, const double *p, const double *in,
			const int32_t *ids, const int32_t *labels, double gscale, const double *out,
			const double *save, const double *dout, double *din, double *dp);

struct ref_net;

/* Buffers for running net (borrowed; must outlive the ref_net). 0 or -ENOMEM. */
int ref_net_new(const struct proxy_net *net, struct ref_net **out);
void ref_net_free(struct ref_net *r);

/*
 * One micro-batch: forward through every layer, then backward from the XENT
 * loss (or, when the last layer is not XENT, from dout, of the last layer's
 * output size). Parameter gradients are ADDED into grads; dx, when not NULL,
 * gets the gradient of the float input. *loss gets XENT's output (0 without
 * one). Returns 0 or -EINVAL (bad id or label).
 */
int ref_net_run(struct ref_net *r, const double *params, const double *x, const int32_t *ids,
		const int32_t *labels, const double *dout, double gscale, double *grads, double *dx,
		double *loss);

/* The last layer's output of the latest run (out_size values). */
const double *ref_net_output(const struct ref_net *r);

/* Initial parameters from the seed (proxy_param_init's rule), nparams values. */
void ref_params_init(const struct proxy_net *net, uint64_t seed, double *params);

/* Width of the teacher's feature vector: the image grid, or the token rank. */
uint32_t proxy_teacher_width(const struct proxy_net *net);

/* The teacher head [classes x width] of a job (seed). */
void ref_teacher_fill(const struct proxy_net *net, uint64_t seed, double *teacher);

/*
 * The synthetic micro-batch `task` of round `round`: the input (x floats or
 * ids, net->input_size of them) and labels (net->label_rows). teacher is
 * ref_teacher_fill's table.
 */
void ref_batch_fill(const struct proxy_net *net, uint64_t seed, const double *teacher,
		    uint64_t round, uint64_t task, double *x, int32_t *ids, int32_t *labels);

/*
 * Momentum SGD over n values: g scaled by min(1, clip / |g|) when clip > 0,
 * v = momentum v + g, p -= lr v.
 */
void ref_sgd_update(double *p, double *v, const double *g, uint64_t n, double lr, double momentum,
		    double clip);

#ifdef __cplusplus
}
#endif

#endif
