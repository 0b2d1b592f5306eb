/* SPDX-License-Identifier: MIT */
/* Fuzz target for hare-agent's configuration: the input as an agent.conf,
 * and its first line as a GPU list, a daemon address and an NVML device
 * name. Nothing may crash; every rejection must say why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_line(const char *text)
{
	struct agent_gpu gpus[AGENT_GPUS_MAX];
	char line[512], err[512], host[256], type[AGENT_NAME_MAX];
	uint32_t n = 0;
	uint16_t port;

	snprintf(line, sizeof(line), "%.*s", (int)strcspn(text, "\n"), text);
	err[0] = '\0';
	if (agent_gpus_parse(line, gpus, AGENT_GPUS_MAX, &n, err, sizeof(err)) < 0) {
		if (!err[0] || n != 0)
			__builtin_trap();
	} else {
		for (uint32_t i = 0; i < n; i++) {
			if (gpus[i].index != i || !gpus[i].type[0] || !gpus[i].emulated)
				__builtin_trap();
		}
	}
	if (agent_addr_parse(line, host, sizeof(host), &port, err, sizeof(err)) == 0 &&
	    (port == 0 || !host[0]))
		__builtin_trap();
	agent_gpu_type_from_name(line, type, sizeof(type));
	if (strlen(type) >= sizeof(type))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config c;
	char *text = malloc(size + 1);
	char err[1024];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	agent_config_defaults(&c);
	err[0] = '\0';
	if (agent_config_load_string(&c, "agent.conf", text, err, sizeof(err)) < 0) {
		if (strncmp(err, "agent.conf:", 11) != 0)
			__builtin_trap();
	} else {
		if (c.ngpus > AGENT_GPUS_MAX)
			__builtin_trap();
		agent_config_finish(&c, "/nonexistent/bin/hare-agent", err, sizeof(err));
	}
	fuzz_line(text);
	free(text);
	return 0;
}
