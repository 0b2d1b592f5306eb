/* SPDX-License-Identifier: MIT */
/* The node's GPU inventory: emulated GPUs from a "V100:4,T4:4" list, or real
 * ones found with NVML, loaded by dlopen so no NVIDIA header or library is
 * needed to build or run the agent. */
#include "agent.h"

#include "config.h"
#include "err.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static bool agent_type_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* One "TYPE:COUNT" item of len bytes, blanks already trimmed. */
static int agent_gpus_item(const char *item, size_t len, struct agent_gpu *gpus, uint32_t max,
			   uint32_t *n, char *err, size_t errlen)
{
	const char *colon = memchr(item, ':', len);
	size_t tlen = colon ? (size_t)(colon - item) : 0;
	char count_s[16];
	uint32_t count;
	char why[128];

	if (!colon || tlen == 0 || tlen >= AGENT_NAME_MAX) {
		snprintf(err, errlen, "expected TYPE:COUNT, got '%.*s'", (int)(len > 64 ? 64 : len),
			 item);
		return ERR_BAD_CONFIG;
	}
	for (size_t i = 0; i < tlen; i++) {
		if (!agent_type_char_ok(item[i])) {
			snprintf(err, errlen, "bad character in type '%.*s'", (int)tlen, item);
			return ERR_BAD_CONFIG;
		}
	}
	if (len - tlen - 1 >= sizeof(count_s)) {
		snprintf(err, errlen, "count of %.*s is too long", (int)tlen, item);
		return ERR_BAD_CONFIG;
	}
	memcpy(count_s, colon + 1, len - tlen - 1);
	count_s[len - tlen - 1] = '\0';
	if (config_parse_u32(count_s, 1, max, &count, why, sizeof(why)) < 0 || *n + count > max) {
		snprintf(err, errlen, "count of %.*s must be between 1 and %u (at most %u GPUs in all), got '%s'",
			 (int)tlen, item, max - *n < 1 ? 1 : max - *n, max, count_s);
		return ERR_BAD_CONFIG;
	}
	for (uint32_t k = 0; k < count; k++) {
		struct agent_gpu *g = &gpus[(*n)++];

		memset(g, 0, sizeof(*g));
		g->index = *n - 1;
		memcpy(g->type, item, tlen);
		g->emulated = true;
	}
	return 0;
}

int agent_gpus_parse(const char *spec, struct agent_gpu *gpus, uint32_t max, uint32_t *n,
		     char *err, size_t errlen)
{
	const char *p = spec;

	*n = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strcasecmp(p, "none") == 0)
		return 0;
	if (*p == '\0') {
		snprintf(err, errlen, "empty list (write 'none' for no GPUs)");
		return ERR_BAD_CONFIG;
	}
	for (;;) {
		size_t len = strcspn(p, ",");
		size_t end = len;
		int rc;

		while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		rc = agent_gpus_item(p, end, gpus, max, n, err, errlen);
		if (rc < 0) {
			*n = 0;
			return rc;
		}
		if (p[len] == '\0')
			return 0;
		p += len + 1;
		while (*p == ' ' || *p == '\t')
			p++;
	}
}

/* Type names the profiles know, matched as whole words of a device name. */
static const char *const agent_known_types[] = {
	"K80", "M60", "P4", "P40", "P100", "V100", "T4", "A10", "A30", "A40", "A100",
	"L4", "L40", "L40S", "H100", "H200",
};

void agent_gpu_types_known(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(agent_known_types) / sizeof(agent_known_types[0]) && n < len; i++) {
		int w = snprintf(buf + n, len - n, "%s%s", i ? " " : "", agent_known_types[i]);

		n += w > 0 ? (size_t)w : 0;
	}
}

int agent_gpu_type_from_name(const char *name, char *type, size_t len)
{
	const char *p = name;

	while (*p) {
		size_t w = strcspn(p, " -_/");

		for (size_t i = 0; i < sizeof(agent_known_types) / sizeof(agent_known_types[0]); i++) {
			const char *k = agent_known_types[i];

			if (w == strlen(k) && strncasecmp(p, k, w) == 0) {
				snprintf(type, len, "%s", k);
				return 1;
			}
		}
		p += w;
		p += strspn(p, " -_/");
	}
	snprintf(type, len, "%s", name);
	for (char *q = type; *q; q++) {
		if (!agent_type_char_ok(*q))
			*q = '-';
	}
	return 0;
}

/* The few NVML entry points used, declared here (no nvml.h needed). */
typedef int nvml_return_t;
typedef struct nvml_device *nvml_device_t;
struct nvml_memory {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
};

struct agent_nvml {
	void *lib;
	nvml_return_t (*init)(void);
	nvml_return_t (*shutdown)(void);
	nvml_return_t (*count)(unsigned int *);
	nvml_return_t (*handle)(unsigned int, nvml_device_t *);
	nvml_return_t (*name)(nvml_device_t, char *, unsigned int);
	nvml_return_t (*memory)(nvml_device_t, struct nvml_memory *);
	nvml_return_t (*minor)(nvml_device_t, unsigned int *);	/* may be NULL */
	nvml_return_t (*uuid)(nvml_device_t, char *, unsigned int);	/* may be NULL */
	const char *(*error_string)(nvml_return_t);
};

static int agent_nvml_open(struct agent_nvml *nv, char *err, size_t errlen)
{
	memset(nv, 0, sizeof(*nv));
	nv->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!nv->lib) {
		snprintf(err, errlen, "NVML not available (libnvidia-ml.so.1: %s)", dlerror());
		return -ENOENT;
	}
	*(void **)&nv->init = dlsym(nv->lib, "nvmlInit_v2");
	*(void **)&nv->shutdown = dlsym(nv->lib, "nvmlShutdown");
	*(void **)&nv->count = dlsym(nv->lib, "nvmlDeviceGetCount_v2");
	*(void **)&nv->handle = dlsym(nv->lib, "nvmlDeviceGetHandleByIndex_v2");
	*(void **)&nv->name = dlsym(nv->lib, "nvmlDeviceGetName");
	*(void **)&nv->memory = dlsym(nv->lib, "nvmlDeviceGetMemoryInfo");
	*(void **)&nv->minor = dlsym(nv->lib, "nvmlDeviceGetMinorNumber");
	*(void **)&nv->uuid = dlsym(nv->lib, "nvmlDeviceGetUUID");
	*(void **)&nv->error_string = dlsym(nv->lib, "nvmlErrorString");
	if (!nv->init || !nv->shutdown || !nv->count || !nv->handle || !nv->name || !nv->memory) {
		snprintf(err, errlen, "libnvidia-ml.so.1 lacks the NVML functions the agent uses");
		dlclose(nv->lib);
		return -EIO;
	}
	return 0;
}

static const char *agent_nvml_error(const struct agent_nvml *nv, nvml_return_t r)
{
	return nv->error_string ? nv->error_string(r) : "NVML error";
}

/* The GPU's device file, /dev/nvidiaN for NVML's minor number N: its
 * number into g (constrain_devices denies it to the other GPUs' workers). */
static void agent_gpu_device(struct agent_gpu *g, unsigned int minor_number)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/dev/nvidia%u", minor_number);
	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		g->dev = st.st_rdev;
		g->has_dev = true;
	}
}

/* Fill one GPU from NVML device i. */
static int agent_nvml_device(const struct agent_nvml *nv, unsigned int i, struct agent_gpu *g,
			     uint32_t *unknown, char *err, size_t errlen)
{
	char name[96] = "";
	unsigned int minor_number;
	struct nvml_memory mem;
	nvml_device_t dev;
	nvml_return_t r;

	r = nv->handle(i, &dev);
	if (r == 0)
		r = nv->name(dev, name, sizeof(name));
	if (r != 0) {
		snprintf(err, errlen, "NVML device %u: %s", i, agent_nvml_error(nv, r));
		return -EIO;
	}
	memset(g, 0, sizeof(*g));
	g->index = i;
	if (!agent_gpu_type_from_name(name, g->type, sizeof(g->type)))
		(*unknown)++;
	if (nv->memory(dev, &mem) == 0)
		g->memory_mib = mem.total / (1024 * 1024);
	if (nv->minor && nv->minor(dev, &minor_number) == 0)
		agent_gpu_device(g, minor_number);
	if (nv->uuid && nv->uuid(dev, g->uuid, sizeof(g->uuid)) != 0)
		g->uuid[0] = '\0';
	return 0;
}

int agent_gpus_discover(struct agent_gpu *gpus, uint32_t max, uint32_t *n, uint32_t *unknown,
			char *err, size_t errlen)
{
	struct agent_nvml nv;
	unsigned int count = 0;
	nvml_return_t r;
	int rc;

	*n = 0;
	*unknown = 0;
	rc = agent_nvml_open(&nv, err, errlen);
	if (rc < 0)
		return rc;
	r = nv.init();
	if (r != 0) {
		snprintf(err, errlen, "nvmlInit: %s", agent_nvml_error(&nv, r));
		dlclose(nv.lib);
		return -EIO;
	}
	r = nv.count(&count);
	if (r != 0) {
		snprintf(err, errlen, "nvmlDeviceGetCount: %s", agent_nvml_error(&nv, r));
		rc = -EIO;
	}
	for (unsigned int i = 0; rc == 0 && i < count && i < max; i++) {
		rc = agent_nvml_device(&nv, i, &gpus[i], unknown, err, errlen);
		if (rc == 0)
			*n = i + 1;
	}
	nv.shutdown();
	dlclose(nv.lib);
	return rc;
}
