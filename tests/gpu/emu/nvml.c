/* SPDX-License-Identifier: MIT */
/* A stand-in libnvidia-ml.so.1 for the dry run of tests/gpu/run.sh
 * (tests/gpu/dryrun.sh): the few NVML calls hare-agent makes, answering
 * HARE_EMU_GPUS devices (default 1) named "CPU emulation", the name the
 * emulated CUDA runtime gives (tests/gpu/emu/emu.cpp). Never installed or
 * put in a build folder: only the dry run's own folder holds it. */
#include <stdio.h>
#include <stdlib.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;

struct nvml_memory {
	unsigned long long total, free, used;
};

#define NVML_OK 0
#define NVML_ERROR_INVALID_ARGUMENT 2

static unsigned int emu_count(void)
{
	const char *v = getenv("HARE_EMU_GPUS");

	return v ? (unsigned int)atoi(v) : 1;
}

nvmlReturn_t nvmlInit_v2(void)
{
	return NVML_OK;
}

nvmlReturn_t nvmlShutdown(void)
{
	return NVML_OK;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n)
{
	*n = emu_count();
	return NVML_OK;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *dev)
{
	if (i >= emu_count())
		return NVML_ERROR_INVALID_ARGUMENT;
	*dev = (nvmlDevice_t)(size_t)(i + 1);
	return NVML_OK;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned int len)
{
	(void)dev;
	snprintf(name, len, "CPU emulation");
	return NVML_OK;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, struct nvml_memory *m)
{
	(void)dev;
	m->total = m->free = 8ull << 30;
	m->used = 0;
	return NVML_OK;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
	return r == NVML_OK ? "success" : "invalid argument";
}
