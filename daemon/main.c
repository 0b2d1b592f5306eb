/* SPDX-License-Identifier: MIT */
/* hared: the Hare scheduling daemon. Parses flags, loads the configuration
 * and runs the daemon's loop until SIGTERM or SIGINT (SIGHUP: reload). */
#include "hared.h"

#include "log.h"
#include "hare.pb-c.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hared [--config FILE] [--foreground] [--check-config] [--version] [--help]\n"
		"\n"
		"The Hare scheduling daemon: accepts jobs from harectl, schedules them on the\n"
		"GPUs of the registered hare-agents, and keeps its state in state_dir/hare.db.\n"
		"GPU types its profile lacks are measured by an agent that has them\n"
		"(measure_gpus); the rows are kept in state_dir/measured-throughput.csv.\n"
		"\n"
		"  --config FILE    configuration file (default %s)\n"
		"  --foreground     run in the foreground (the default; under systemd use\n"
		"                   Type=notify, hared never forks)\n"
		"  --check-config   check the configuration and the files it names, then exit\n"
		"  --help           show this help\n"
		"  --version        print the version and the protocol version\n"
		"\n"
		"SIGHUP reads the configuration again: log_level, retries, quarantine,\n"
		"limits and timers, remote_user, agent_keys_dir, private_data and tls\n"
		"change at once; other keys at the next start (the log says which;\n"
		"docs/hared.md, Signals, lists them). A configuration that is not valid\n"
		"changes nothing.\n"
		"\n"
		"Exit status: 0 after a clean shutdown (SIGTERM, SIGINT) or a good check,\n"
		"1 when the daemon cannot start for a cause of the moment (a port in use),\n"
		"2 on a usage or configuration error (at start too: what --check-config\n"
		"refuses).\n",
		HARED_CONFIG_DEFAULT);
}

struct args {
	const char *config;
	bool check;
};

static int args_parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	a->config = HARED_CONFIG_DEFAULT;
	a->check = false;
	opterr = 0;
	while ((o = getopt_long(argc, argv, "c:fh", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			a->config = optarg;
			break;
		case 'f':
			break;
		case 'k':
			a->check = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("hared %s (protocol %d)\n", HARE_VERSION, HARE__VERSION__PROTOCOL_VERSION);
			exit(0);
		default:
			fprintf(stderr, "hared: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hared: unexpected argument '%s' (see --help)\n", argv[optind]);
		return -1;
	}
	return 0;
}

static int run(const struct hared_config *cfg, const char *path)
{
	struct hared *d = calloc(1, sizeof(*d));
	char err[512] = "";
	uv_loop_t loop;
	bool config_error;
	int rc;

	if (!d || uv_loop_init(&loop) < 0) {
		fprintf(stderr, "hared: out of memory\n");
		free(d);
		return 1;
	}
	rc = hared_init(d, &loop, cfg, err, sizeof(err));
	d->config_path = path;
	if (rc == 0)
		rc = hared_start(d, err, sizeof(err));
	if (rc < 0) {
		log_error("hared: %s", err);
		hared_stop(d);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	hared_signals_close(d);
	hared_destroy(d);
	uv_loop_close(&loop);
	config_error = d->config_error;
	free(d);
	if (rc == 0)
		log_info("hared stopped");
	/* 2 as --check-config would say: systemd does not restart it (hared.service) */
	return rc == 0 ? 0 : config_error ? 2 : 1;
}

int main(int argc, char **argv)
{
	struct hared_config cfg;
	struct args a;
	char err[512] = "";
	int rc;

	if (args_parse(argc, argv, &a) < 0)
		return 2;
	hared_config_defaults(&cfg);
	rc = hared_config_load(a.config, &cfg, err, sizeof(err));
	if (rc == -ENOENT && strcmp(a.config, HARED_CONFIG_DEFAULT) == 0) {
		fprintf(stderr, "hared: %s (use --config FILE; an example is hared.conf.example, in "
			"share/doc/hare/examples/ of the install)\n", err);
		return 2;
	}
	if (rc < 0) {
		fprintf(stderr, "hared: %s\n", err);
		return 2;
	}
	log_level_set(cfg.log_level);
	if (a.check) {
		rc = hared_check(&cfg, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "hared: %s\n", err);
			return 2;
		}
		printf("hared: %s: configuration OK\n", a.config);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* until hared_start installs the reload */
	return run(&cfg, a.config);
}
