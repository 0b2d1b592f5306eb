/* SPDX-License-Identifier: MIT */
/* Proxy models of the real worker: one per model family (resnet, transformer,
 * lstm, recommendation), their size knobs and defaults, and the flat layer
 * list that both the CPU reference (proxy_ref.c) and the CUDA engine run. */
#ifndef HARE_PROXY_H
#define HARE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROXY_NAME_MAX 32
#define PROXY_LIST_MAX 8
/* Rank of the random teacher that labels the synthetic data. */
#define PROXY_TEACHER_RANK 16
/* Images: the teacher sees the image's mean over a GRID x GRID grid. */
#define PROXY_IMAGE_GRID 4

enum proxy_family {
	PROXY_RESNET = 1,	/* conv net: stem, stages of residual blocks, linear head */
	PROXY_TRANSFORMER,	/* token embedding, encoder blocks (pre-LN), per-token head */
	PROXY_LSTM,		/* token embedding or dense frames, LSTM stack, per-step head */
	PROXY_RECOMMENDATION,	/* embedding table (bag or fields), MLP, head */
};

enum proxy_op {
	PROXY_OP_EMBED = 1,	/* ids [rows_in] -> table rows; concat or mean over fields */
	PROXY_OP_POSADD,	/* + learned position table, rows [n][seq] of dim */
	PROXY_OP_LINEAR,	/* per row: y = x W^T + b, W [out x in] */
	PROXY_OP_RELU,
	PROXY_OP_CONV,		/* NHWC, k x k, stride, pad; im2col + GEMM, with bias */
	PROXY_OP_LAYERNORM,	/* per row of dim, gain and bias */
	PROXY_OP_ATTENTION,	/* no params: [q|k|v] per token -> softmax(q k^T / sqrt(dh)) v */
	PROXY_OP_LSTM,		/* time-major [seq][n][in] -> [seq][n][hidden] */
	PROXY_OP_RES_BEGIN,	/* identity; its input is added back at the matching RES_END */
	PROXY_OP_RES_END,	/* y = x + input of layer `pair` */
	PROXY_OP_XENT,		/* softmax cross-entropy of logits [rows x classes]; last */
};

/* Row order of sequence data: transformers keep [n][t], LSTMs [t][n]. */
enum proxy_layout { PROXY_LAYOUT_SAMPLE = 0, PROXY_LAYOUT_TIME = 1 };

/* The size knobs of one proxy model (the --proxy KEY=VALUE keys). Knobs of
 * other families are 0. */
struct proxy_spec {
	char model[PROXY_NAME_MAX];
	enum proxy_family family;
	uint32_t batch;		/* samples per task (micro-batch) */
	uint32_t classes;	/* labels of the softmax head */
	/* resnet */
	uint32_t image, channels, patch, width, nblocks, blocks[PROXY_LIST_MAX];
	/* transformer and lstm */
	uint32_t vocab, seq, dim, heads, ff, layers;
	uint32_t input;		/* lstm without vocab: dense features per step */
	uint32_t hidden;	/* lstm */
	/* recommendation */
	uint32_t rows, fields, pool_mean, nmlp, mlp[PROXY_LIST_MAX];
	/* training */
	double lr, momentum, clip;
};

/* One layer; the geometry fields an op does not use are 0. Sizes are per
 * micro-batch. */
struct proxy_layer {
	enum proxy_op op;
	uint64_t in_size, out_size;	/* floats (ids for EMBED's input) */
	uint64_t param_off, nparams;	/* slice of the fused parameter buffer */
	uint64_t save_size;		/* floats kept from forward for backward */
	uint32_t n;			/* samples */
	uint32_t rows, in, out;		/* LINEAR, LAYERNORM (in = out = dim), XENT (out = classes) */
	uint32_t seq, dim, heads;	/* POSADD, ATTENTION (dim = model dim), LSTM (dim = hidden) */
	uint32_t h, w, cin, cout, k, stride, pad, oh, ow;	/* CONV */
	uint32_t vocab, fields, mean;	/* EMBED */
	uint32_t pair;			/* RES_BEGIN <-> RES_END */
	bool need_dx;			/* false when the input is the raw data */
	float init_std;			/* weights ~ N(0, init_std) */
};

struct proxy_net {
	struct proxy_spec spec;
	struct proxy_layer *layers;
	uint32_t nlayers;
	uint64_t nparams;
	uint32_t batch;
	bool input_ids;			/* first layer reads int32 ids, else floats */
	uint64_t input_size;		/* ids or floats per micro-batch */
	uint32_t label_rows, classes;
	enum proxy_layout layout;
	uint64_t max_act;		/* largest layer output, floats */
	uint64_t max_col;		/* largest im2col matrix, floats */
	uint64_t max_scores;		/* largest attention score block per head, floats */
	uint64_t max_ids;		/* largest EMBED input */
};

/* Training FLOPs target of a real model, per sample, and where it comes from. */
struct proxy_target {
	const char *model;
	double params;			/* trainable parameters */
	double train_flops;		/* forward + backward FLOPs per sample */
	const char *source;
};

/* Family name ("resnet") of a family; never NULL. */
const char *proxy_family_name(enum proxy_family f);

/*
 * Defaults of the proxy of `model` (a model of models.csv, case-insensitive)
 * into *s. Returns 0, or ERR_UNKNOWN_MODEL with the known names in err.
 */
int proxy_spec_default(const char *model, struct proxy_spec *s, char *err, size_t errlen);

/*
 * Apply "KEY=VALUE[,KEY=VALUE...]" overrides (keys of the spec's family:
 * batch, classes, image, ...; lists as 2-2-2-2; lr, momentum and clip take
 * decimals). Returns 0 or -EINVAL with the reason in err.
 */
int proxy_spec_apply(struct proxy_spec *s, const char *kv, char *err, size_t errlen);

/* Check ranges and the rules across knobs. Returns 0 or -EINVAL with err. */
int proxy_spec_check(const struct proxy_spec *s, char *err, size_t errlen);

/* Write the spec as "key=value,..." (the form proxy_spec_apply reads). */
int proxy_spec_format(const struct proxy_spec *s, char *buf, size_t len);

/* A 64-bit hash of the sizes that fix the parameter layout (not lr, batch). */
uint64_t proxy_spec_hash(const struct proxy_spec *s);

/*
 * Build the layer list of a checked spec. Returns 0, -ENOMEM, or -EINVAL
 * with err; the caller frees with proxy_net_free.
 */
int proxy_net_build(const struct proxy_spec *s, struct proxy_net *net, char *err, size_t errlen);
void proxy_net_free(struct proxy_net *net);

/*
 * A net of one layer (copied) plus nothing else, for per-layer checks: sizes,
 * param offsets and the net's input description are filled in from l.
 */
int proxy_net_single(const struct proxy_layer *l, struct proxy_net *net);

/* Trainable parameters (the fused buffer's nparams adds alignment padding). */
uint64_t proxy_net_weights(const struct proxy_net *net);

/* GEMM FLOPs of one micro-batch: forward, and forward + backward. */
void proxy_net_flops(const struct proxy_net *net, double *fwd, double *train);

/* Target of a real model, or NULL when none is recorded. */
const struct proxy_target *proxy_target_find(const char *model);

/* Number of built-in models and the i-th name. */
uint32_t proxy_model_count(void);
const char *proxy_model_name(uint32_t i);

#ifdef __cplusplus
}
#endif

#endif
