/* SPDX-License-Identifier: MIT */
/* Proxy model sizes: the built-in defaults per model (matched to the real
 * models' parameters and training FLOPs), the KEY=VALUE overrides, checks. */
#include "proxy.h"

#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define L(...) .nblocks = sizeof((uint32_t[]){ __VA_ARGS__ }) / 4, .blocks = { __VA_ARGS__ }
#define M(...) .nmlp = sizeof((uint32_t[]){ __VA_ARGS__ }) / 4, .mlp = { __VA_ARGS__ }

/* Defaults; docs/worker.md explains each choice. */
static const struct proxy_spec proxy_defaults[] = {
	{ .model = "resnet18", .family = PROXY_RESNET, .batch = 128, .classes = 10, .image = 32,
	  .channels = 3, .patch = 1, .width = 64, L(2, 2, 2, 2), .lr = 0.02, .momentum = 0.9,
	  .clip = 5 },
	{ .model = "resnet50", .family = PROXY_RESNET, .batch = 64, .classes = 100, .image = 224,
	  .channels = 3, .patch = 4, .width = 64, L(3, 4, 6, 3), .lr = 0.02, .momentum = 0.9,
	  .clip = 5 },
	{ .model = "yolov3", .family = PROXY_RESNET, .batch = 8, .classes = 20, .image = 416,
	  .channels = 3, .patch = 2, .width = 64, L(1, 1, 4, 4, 2), .lr = 0.02, .momentum = 0.9,
	  .clip = 5 },
	{ .model = "transformer", .family = PROXY_TRANSFORMER, .batch = 64, .classes = 3000,
	  .vocab = 3000, .seq = 32, .dim = 512, .heads = 8, .ff = 2048, .layers = 14, .lr = 0.05,
	  .momentum = 0.9, .clip = 1 },
	{ .model = "bert", .family = PROXY_TRANSFORMER, .batch = 12, .classes = 2, .vocab = 30522,
	  .seq = 384, .dim = 768, .heads = 12, .ff = 3072, .layers = 12, .lr = 0.05,
	  .momentum = 0.9, .clip = 1 },
	{ .model = "lm", .family = PROXY_LSTM, .batch = 20, .classes = 33278, .vocab = 33278,
	  .seq = 35, .hidden = 200, .layers = 2, .lr = 0.5, .momentum = 0.9, .clip = 1 },
	{ .model = "deepspeech2", .family = PROXY_LSTM, .batch = 20, .classes = 29, .input = 161,
	  .seq = 200, .hidden = 1024, .layers = 5, .lr = 0.1, .momentum = 0.9, .clip = 1 },
	{ .model = "recommendation", .family = PROXY_RECOMMENDATION, .batch = 2048,
	  .classes = 20108, .rows = 20108, .fields = 32, .pool_mean = 1, .dim = 200,
	  M(1024, 1024, 200), .lr = 0.5, .momentum = 0.9, .clip = 1 },
	{ .model = "ncf", .family = PROXY_RECOMMENDATION, .batch = 256, .classes = 2, .rows = 9746,
	  .fields = 2, .pool_mean = 1, .dim = 160, M(16, 8), .lr = 0.5, .momentum = 0.9,
	  .clip = 1 },
};

#define NDEFAULTS (sizeof(proxy_defaults) / sizeof(proxy_defaults[0]))

/* Targets: parameters from workloads/profiles/models.csv, training FLOPs per
 * sample = 3 x forward (forward, input grad, weight grad); see docs/worker.md. */
static const struct proxy_target proxy_targets[] = {
	{ "resnet18", 11.17e6, 3.34e9, "CIFAR-10 ResNet-18: 0.556 GMAC forward at 32x32 (He et al. 2016 basic blocks)" },
	{ "resnet50", 25.56e6, 24.5e9, "ResNet-50: 4.09 GMAC forward at 224x224 (torchvision model card)" },
	{ "yolov3", 61.6e6, 197.6e9, "YOLOv3-416: 65.86 GFLOP forward (Redmon and Farhadi 2018, Table 2)" },
	{ "transformer", 47.2e6, 8.76e9, "6+6 layers d512: 6 x 45.6 M matmul params x 32 tokens (Kaplan et al. 2020 rule)" },
	{ "bert", 110e6, 212e9, "BERT-base at 384 tokens: 6 x 85 M x 384 + attention 16.3 GFLOP" },
	{ "lm", 13.99e6, 1.53e9, "2-layer LSTM 200, vocabulary 33278: 7.30 M MAC per token x 35 tokens x 6" },
	{ "deepspeech2", 41.2e6, 46.5e9, "5 bi-GRU 800: 6 x 40.8 M x 150 steps + 2 convs 1.6 GMAC x 6" },
	{ "recommendation", 8.06e6, 48.3e6, "autoencoder 20108-200-20108: 8.04 M MAC forward x 6" },
	{ "ncf", 1.60e6, 16.2e3, "NeuMF 32 factors, MLP 64-32-16-8: 2.7 k MAC forward x 6" },
};

enum proxy_kind { K_U32, K_LIST, K_DBL };

#define FAM(f) (1u << (f))
#define ALL (FAM(PROXY_RESNET) | FAM(PROXY_TRANSFORMER) | FAM(PROXY_LSTM) | FAM(PROXY_RECOMMENDATION))

struct proxy_key {
	const char *name;
	uint32_t families;
	enum proxy_kind kind;
	size_t off;
	size_t count_off;	/* K_LIST: offset of the length */
	double min, max;
};

#define U(n, fam, field, lo, hi) { n, fam, K_U32, offsetof(struct proxy_spec, field), 0, lo, hi }
#define D(n, field, lo, hi) { n, ALL, K_DBL, offsetof(struct proxy_spec, field), 0, lo, hi }
#define LST(n, fam, field, cnt, lo, hi) \
	{ n, fam, K_LIST, offsetof(struct proxy_spec, field), offsetof(struct proxy_spec, cnt), lo, hi }

static const struct proxy_key proxy_keys[] = {
	U("batch", ALL, batch, 1, 1000000),
	U("classes", ALL, classes, 2, 10000000),
	U("image", FAM(PROXY_RESNET), image, 4, 4096),
	U("channels", FAM(PROXY_RESNET), channels, 1, 64),
	U("patch", FAM(PROXY_RESNET), patch, 1, 16),
	U("width", FAM(PROXY_RESNET), width, 1, 8192),
	LST("blocks", FAM(PROXY_RESNET), blocks, nblocks, 0, 64),
	U("vocab", FAM(PROXY_TRANSFORMER) | FAM(PROXY_LSTM), vocab, 0, 10000000),
	U("seq", FAM(PROXY_TRANSFORMER) | FAM(PROXY_LSTM), seq, 1, 8192),
	U("dim", FAM(PROXY_TRANSFORMER) | FAM(PROXY_RECOMMENDATION), dim, 1, 65536),
	U("heads", FAM(PROXY_TRANSFORMER), heads, 1, 256),
	U("ff", FAM(PROXY_TRANSFORMER), ff, 1, 262144),
	U("layers", FAM(PROXY_TRANSFORMER) | FAM(PROXY_LSTM), layers, 0, 256),
	U("input", FAM(PROXY_LSTM), input, 0, 65536),
	U("hidden", FAM(PROXY_LSTM), hidden, 1, 65536),
	U("rows", FAM(PROXY_RECOMMENDATION), rows, 2, 100000000),
	U("fields", FAM(PROXY_RECOMMENDATION), fields, 1, 4096),
	U("mean", FAM(PROXY_RECOMMENDATION), pool_mean, 0, 1),
	LST("mlp", FAM(PROXY_RECOMMENDATION), mlp, nmlp, 1, 65536),
	D("lr", lr, 1e-9, 100),
	D("momentum", momentum, 0, 0.999),
	D("clip", clip, 0, 1e9),
};

#define NKEYS (sizeof(proxy_keys) / sizeof(proxy_keys[0]))

const char *proxy_family_name(enum proxy_family f)
{
	switch (f) {
	case PROXY_RESNET: return "resnet";
	case PROXY_TRANSFORMER: return "transformer";
	case PROXY_LSTM: return "lstm";
	case PROXY_RECOMMENDATION: return "recommendation";
	}
	return "unknown";
}

uint32_t proxy_model_count(void)
{
	return (uint32_t)NDEFAULTS;
}

const char *proxy_model_name(uint32_t i)
{
	return i < NDEFAULTS ? proxy_defaults[i].model : NULL;
}

int proxy_spec_default(const char *model, struct proxy_spec *s, char *err, size_t errlen)
{
	size_t used = 0;

	for (size_t i = 0; i < NDEFAULTS; i++) {
		if (strcasecmp(model, proxy_defaults[i].model) == 0) {
			*s = proxy_defaults[i];
			return 0;
		}
	}
	used = (size_t)snprintf(err, errlen, "unknown model '%.40s'; known:", model);
	for (size_t i = 0; i < NDEFAULTS && used < errlen; i++)
		used += (size_t)snprintf(err + used, errlen - used, " %s", proxy_defaults[i].model);
	return ERR_UNKNOWN_MODEL;
}

const struct proxy_target *proxy_target_find(const char *model)
{
	for (size_t i = 0; i < sizeof(proxy_targets) / sizeof(proxy_targets[0]); i++)
		if (strcasecmp(model, proxy_targets[i].model) == 0)
			return &proxy_targets[i];
	return NULL;
}

static const struct proxy_key *proxy_key_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strlen(proxy_keys[i].name) == len && strncmp(proxy_keys[i].name, name, len) == 0)
			return &proxy_keys[i];
	return NULL;
}

static int proxy_num(const struct proxy_key *k, const char *v, size_t len, double *out, char *err,
		     size_t errlen)
{
	char buf[32], *end;
	double x;

	if (len == 0 || len >= sizeof(buf))
		goto bad;
	memcpy(buf, v, len);
	buf[len] = '\0';
	errno = 0;
	x = strtod(buf, &end);
	if (*end != '\0' || errno || !isfinite(x) || x < k->min || x > k->max)
		goto bad;
	if (k->kind != K_DBL && (x != floor(x) || buf[0] < '0' || buf[0] > '9'))
		goto bad;
	*out = x;
	return 0;
bad:
	snprintf(err, errlen, "%s: expected %s between %g and %g, got '%.*s'", k->name,
		 k->kind == K_DBL ? "a number" : "a whole number", k->min, k->max, (int)(len > 24 ? 24 : len), v);
	return -EINVAL;
}

/* A list "2-2-2-2" into the spec's array and its count. */
static int proxy_list_set(struct proxy_spec *s, const struct proxy_key *k, const char *v, size_t len,
			  char *err, size_t errlen)
{
	uint32_t *arr = (uint32_t *)((char *)s + k->off), n = 0;
	size_t i = 0;

	while (i <= len) {
		size_t j = i;
		double x;

		while (j < len && v[j] != '-')
			j++;
		if (n == PROXY_LIST_MAX) {
			snprintf(err, errlen, "%s: at most %d entries", k->name, PROXY_LIST_MAX);
			return -EINVAL;
		}
		if (proxy_num(k, v + i, j - i, &x, err, errlen) < 0)
			return -EINVAL;
		arr[n++] = (uint32_t)x;
		i = j + 1;
	}
	*(uint32_t *)((char *)s + k->count_off) = n;
	return 0;
}

static int proxy_pair_apply(struct proxy_spec *s, const char *kv, size_t len, char *err, size_t errlen)
{
	const char *eq = memchr(kv, '=', len);
	const struct proxy_key *k;
	double x;

	if (!eq) {
		snprintf(err, errlen, "expected KEY=VALUE, got '%.*s'", (int)(len > 32 ? 32 : len), kv);
		return -EINVAL;
	}
	k = proxy_key_find(kv, (size_t)(eq - kv));
	if (!k || !(k->families & FAM(s->family))) {
		snprintf(err, errlen, "unknown key '%.*s' for a %s model", (int)(eq - kv > 24 ? 24 : eq - kv),
			 kv, proxy_family_name(s->family));
		return -EINVAL;
	}
	if (k->kind == K_LIST)
		return proxy_list_set(s, k, eq + 1, len - (size_t)(eq + 1 - kv), err, errlen);
	if (proxy_num(k, eq + 1, len - (size_t)(eq + 1 - kv), &x, err, errlen) < 0)
		return -EINVAL;
	if (k->kind == K_DBL)
		*(double *)((char *)s + k->off) = x;
	else
		*(uint32_t *)((char *)s + k->off) = (uint32_t)x;
	return 0;
}

int proxy_spec_apply(struct proxy_spec *s, const char *kv, char *err, size_t errlen)
{
	const char *p = kv;

	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int rc = proxy_pair_apply(s, p, len, err, errlen);

		if (rc < 0)
			return rc;
		p += len + (comma ? 1 : 0);
	}
	return 0;
}

static int proxy_check_resnet(const struct proxy_spec *s, char *err, size_t errlen)
{
	if (s->nblocks < 1) {
		snprintf(err, errlen, "blocks: at least one stage");
		return -EINVAL;
	}
	if (s->patch > 1 && s->image % s->patch) {
		snprintf(err, errlen, "image %u must be a multiple of patch %u", s->image, s->patch);
		return -EINVAL;
	}
	if (s->image % PROXY_IMAGE_GRID) {
		snprintf(err, errlen, "image %u must be a multiple of %d", s->image, PROXY_IMAGE_GRID);
		return -EINVAL;
	}
	if ((uint64_t)s->width << (s->nblocks - 1) > 16384) {
		snprintf(err, errlen, "width %u doubled over %u stages exceeds 16384", s->width, s->nblocks);
		return -EINVAL;
	}
	return 0;
}

static int proxy_check_family(const struct proxy_spec *s, char *err, size_t errlen)
{
	switch (s->family) {
	case PROXY_RESNET:
		return proxy_check_resnet(s, err, errlen);
	case PROXY_TRANSFORMER:
		if (s->vocab < 2) {
			snprintf(err, errlen, "vocab must be at least 2, got %u", s->vocab);
			return -EINVAL;
		}
		if (s->dim % s->heads) {
			snprintf(err, errlen, "dim %u must be a multiple of heads %u", s->dim, s->heads);
			return -EINVAL;
		}
		return 0;
	case PROXY_LSTM:
		if (s->layers < 1 || (s->vocab == 1) || (s->vocab == 0 && s->input == 0)) {
			snprintf(err, errlen, "an lstm needs layers >= 1 and a vocab >= 2 or an input size");
			return -EINVAL;
		}
		return 0;
	case PROXY_RECOMMENDATION:
		return 0;
	}
	snprintf(err, errlen, "unknown model family %d", (int)s->family);
	return -EINVAL;
}

int proxy_spec_check(const struct proxy_spec *s, char *err, size_t errlen)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const struct proxy_key *k = &proxy_keys[i];
		double v;

		if (!(k->families & FAM(s->family)) || k->kind == K_LIST)
			continue;
		v = k->kind == K_DBL ? *(const double *)((const char *)s + k->off)
				     : *(const uint32_t *)((const char *)s + k->off);
		if (!(v >= k->min && v <= k->max)) {
			snprintf(err, errlen, "%s: expected between %g and %g, got %g", k->name, k->min,
				 k->max, v);
			return -EINVAL;
		}
	}
	if (s->model[0] == '\0' || memchr(s->model, '\0', sizeof(s->model)) == NULL) {
		snprintf(err, errlen, "model name missing");
		return -EINVAL;
	}
	return proxy_check_family(s, err, errlen);
}

int proxy_spec_format(const struct proxy_spec *s, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NKEYS && used < len; i++) {
		const struct proxy_key *k = &proxy_keys[i];
		const char *sep = used ? "," : "";

		if (!(k->families & FAM(s->family)))
			continue;
		if (k->kind == K_DBL) {
			used += (size_t)snprintf(buf + used, len - used, "%s%s=%g", sep, k->name,
						 *(const double *)((const char *)s + k->off));
		} else if (k->kind == K_U32) {
			used += (size_t)snprintf(buf + used, len - used, "%s%s=%u", sep, k->name,
						 *(const uint32_t *)((const char *)s + k->off));
		} else {
			const uint32_t *a = (const uint32_t *)((const char *)s + k->off);
			uint32_t n = *(const uint32_t *)((const char *)s + k->count_off);

			used += (size_t)snprintf(buf + used, len - used, "%s%s=", sep, k->name);
			for (uint32_t j = 0; j < n && used < len; j++)
				used += (size_t)snprintf(buf + used, len - used, "%s%u", j ? "-" : "", a[j]);
		}
	}
	return used < len ? (int)used : -ENOSPC;
}

static uint64_t proxy_fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t proxy_spec_hash(const struct proxy_spec *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	h = proxy_fnv(h, (uint64_t)s->family);
	for (size_t i = 0; i < NKEYS; i++) {
		const struct proxy_key *k = &proxy_keys[i];

		/* batch and the optimiser settings do not change the parameters */
		if (k->kind == K_DBL || k->off == offsetof(struct proxy_spec, batch))
			continue;
		if (k->kind == K_U32) {
			h = proxy_fnv(h, *(const uint32_t *)((const char *)s + k->off));
		} else {
			uint32_t n = *(const uint32_t *)((const char *)s + k->count_off);

			h = proxy_fnv(h, n);
			for (uint32_t j = 0; j < n; j++)
				h = proxy_fnv(h, ((const uint32_t *)((const char *)s + k->off))[j]);
		}
	}
	return h;
}
