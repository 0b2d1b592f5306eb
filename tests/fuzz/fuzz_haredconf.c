/* SPDX-License-Identifier: MIT */
/* Fuzz target for hared's configuration: the input as a hared.conf, and its
 * first line as an address to listen on. Any text gives a configuration
 * that passes hared_config_check, or one "hared.conf..." error; accepted
 * values stay in the ranges hared relies on. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hared_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int cond)
{
	if (!cond)
		__builtin_trap();
}

/* A string field is terminated within its array. */
static int fuzz_terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void fuzz_accepted(const struct hared_config *c)
{
	char err[512];

	fuzz_check(hared_config_check("hared.conf", c, err, sizeof(err)) == 0);
	fuzz_check(fuzz_terminated(c->agent_listen, sizeof(c->agent_listen)) &&
		   fuzz_terminated(c->client_socket, sizeof(c->client_socket)) &&
		   fuzz_terminated(c->state_dir, sizeof(c->state_dir)) &&
		   fuzz_terminated(c->policy, sizeof(c->policy)) &&
		   fuzz_terminated(c->log_level, sizeof(c->log_level)));
	fuzz_check(strlen(c->client_socket) <= HARED_SOCKET_PATH_MAX);
	fuzz_check(c->state_dir[0] && c->client_socket[0] && c->policy[0]);
	fuzz_check(isfinite(c->time_scale) && c->time_scale > 0);
	fuzz_check(isfinite(c->noise_cv) && c->noise_cv >= 0);
	fuzz_check(isfinite(c->reconnect_grace_s) && c->reconnect_grace_s >= 0);
	fuzz_check(isfinite(c->heartbeat_timeout_s) && c->heartbeat_timeout_s > 0);
	fuzz_check(isfinite(c->stop_grace_s) && c->stop_grace_s >= 0);
	fuzz_check(isfinite(c->type_slack) && c->type_slack >= 0);
	fuzz_check(isfinite(c->min_lease_s) && c->min_lease_s >= 0);
	fuzz_check(c->max_frame > 0 && c->flush_ms > 0);
	fuzz_check(c->client_socket_mode <= 0777);
	/* client_listen needs a token file, shared or each user's */
	fuzz_check(!c->client_listen[0] || c->client_token_file[0] || c->client_users_file[0]);
	/* some key for agents; private_data's items known, "none" alone */
	fuzz_check(c->cluster_key_file[0] || c->agent_keys_dir[0]);
	fuzz_check(memchr(c->private_data, '\0', sizeof(c->private_data)) != NULL);
	if (hared_private(c, "jobs") || hared_private(c, "usage"))
		fuzz_check(!hared_private(c, "none"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hared_config c;
	struct sockaddr_storage sa;
	char *text = malloc(size + 1);
	char err[1024], line[512];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	hared_config_defaults(&c);
	err[0] = '\0';
	if (hared_config_load_string("hared.conf", text, &c, err, sizeof(err)) < 0)
		fuzz_check(strncmp(err, "hared.conf", 10) == 0);
	else
		fuzz_accepted(&c);

	snprintf(line, sizeof(line), "%.*s", (int)strcspn(text, "\n"), text);
	err[0] = '\0';
	if (hared_addr_parse(line, &sa, err, sizeof(err)) == 0)
		fuzz_check(sa.ss_family == AF_INET || sa.ss_family == AF_INET6);
	else
		fuzz_check(err[0] != '\0');
	free(text);
	return 0;
}
