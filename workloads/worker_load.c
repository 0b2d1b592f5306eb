/* SPDX-License-Identifier: MIT */
/* Loading the CUDA engine at run time, so that hare-worker itself needs no
 * CUDA library and runs the emulated mode anywhere. */
#include "worker_engine.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WORKER_NO_GPU "no CUDA driver/GPU: run with --emulate"

/* Directory of the running binary into dir; false when unknown. */
static bool worker_exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n <= 0)
		return false;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

static void *worker_dlopen_default(char *why, size_t whylen)
{
	static const char *const rel[] = { "", "/cuda", "/../lib/hare", "/../lib" };
	char dir[PATH_MAX], path[PATH_MAX + 64];
	void *h;

	why[0] = '\0';
	if (worker_exe_dir(dir, sizeof(dir))) {
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(path, sizeof(path), "%s%s/" WORKER_ENGINE_LIB, dir, rel[i]);
			if (access(path, F_OK) != 0)
				continue;
			h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			if (h)
				return h;
			/* found but not loadable (a CUDA library missing): say so */
			snprintf(why, whylen, "%s", dlerror());
			return NULL;
		}
	}
	h = dlopen(WORKER_ENGINE_LIB, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		snprintf(why, whylen, "%s", dlerror());
	return h;
}

int worker_engine_cuda_load(const char *path, const struct engine_ops **ops, char *err,
			    size_t errlen)
{
	char why[512];
	engine_entry_fn entry;
	const struct engine_ops *o;
	void *h;

	if (path && path[0]) {
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(why, sizeof(why), "%s", dlerror());
	} else {
		h = worker_dlopen_default(why, sizeof(why));
	}
	if (!h) {
		snprintf(err, errlen, "cannot load the CUDA engine (%.400s); " WORKER_NO_GPU, why);
		return -ENOENT;
	}
	/* the handle stays open for the life of the process */
	*(void **)&entry = dlsym(h, WORKER_ENGINE_SYMBOL);
	o = entry ? entry() : NULL;
	if (!o || o->abi != WORKER_ENGINE_ABI) {
		snprintf(err, errlen, "%s: not a compatible CUDA engine (ABI %u, want %d)",
			 path && path[0] ? path : WORKER_ENGINE_LIB, o ? o->abi : 0, WORKER_ENGINE_ABI);
		return -EPROTO;
	}
	*ops = o;
	return 0;
}
