/* SPDX-License-Identifier: MIT */
/* harectl's help: an overview and one page per command, with examples. */
#include "cli.h"
#include "client.h"

static const char help_overview[] =
	"Usage: harectl [OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"Submit and follow distributed training jobs on a Hare GPU cluster. hared\n"
	"orders the jobs (weighted completion time) and places each on GPUs of the\n"
	"types that run its model fastest, possibly several types at once.\n"
	"\n"
	"Commands:\n"
	"  submit    submit a job from flags, or every job of a job file (--file)\n"
	"  queue     list active jobs in Hare's order (--all: finished ones too)\n"
	"  show      every field of one job\n"
	"  cancel    cancel jobs\n"
	"  hold      keep jobs out of the plans (a running one is stopped)\n"
	"  release   let held jobs run again\n"
	"  update    change jobs' weight, GPU range or name\n"
	"  nodes     list nodes, their GPUs and which are busy\n"
	"  drain     take a node out of planning (root); its jobs move elsewhere\n"
	"  undrain   give a drained node back (root)\n"
	"  forget    forget a node gone for good (root)\n"
	"  logs      the end of a job's output (its workers' stdout and stderr)\n"
	"  history   what happened to a job: starts, preemptions, failures, ...\n"
	"  usage     GPU-hours used, by user and GPU type, over a time window\n"
	"\n"
	"Options (accepted before or after the command):\n"
	"  --socket PATH      hared's unix socket (default: $HARE_SOCKET, else\n"
	"                     " CLI_SOCKET_DEFAULT ")\n"
	"  --host HOST:PORT   talk to hared over TCP instead ([::1]:PORT for IPv6);\n"
	"                     needs the client token\n"
	"  --token-file FILE  file holding the client token for --host (default:\n"
	"                     the token in $HARE_TOKEN)\n"
	"  --timeout SECONDS  how long to wait for hared (default 10)\n"
	"  -h, --help         this help; harectl COMMAND --help for a command\n"
	"  --version          print the version and protocol version\n"
	"\n"
	"Examples:\n"
	"  harectl submit --model resnet50 --gpus 4 --rounds 5000\n"
	"  harectl submit --file jobs.ini\n"
	"  harectl queue\n"
	"  harectl show 42\n"
	"  harectl cancel 42 43\n"
	"  harectl update 42 --weight 4\n"
	"  harectl logs 42\n"
	"  harectl --host head.example.org:7071 --token-file ~/.hare-token queue\n"
	"\n"
	"Exit status: 0 done, 1 hared unreachable or it refused the request (its\n"
	"message is printed), 2 bad command line or job spec (nothing was sent).\n";

static const char help_submit[] =
	"Usage: harectl submit --model MODEL --gpus N --rounds R [OPTIONS]\n"
	"       harectl submit --file JOBFILE\n"
	"\n"
	"Submit a training job and print its id. A job runs R synchronisation\n"
	"rounds; each round is split into N tasks (micro-batches of a fixed global\n"
	"batch), so N is the number of GPUs at full width. Hare may give the job\n"
	"fewer GPUs (each then runs several tasks per round) within\n"
	"[--min-gpus, --max-gpus], and may mix GPU types.\n"
	"\n"
	"Options:\n"
	"  --model MODEL      model family in hared's throughput profiles (resnet50,\n"
	"                     bert, lm, ...); decides how fast each GPU type runs it\n"
	"  --gpus N           tasks per round = GPUs at full width (1..64)\n"
	"  --min-gpus A       fewest GPUs to run on (default 1)\n"
	"  --max-gpus B       most GPUs to run on (default N; A <= B <= N)\n"
	"  --rounds R         rounds to train (1..10^12)\n"
	"  --weight W         importance, > 0 (default 1): Hare minimises the sum of\n"
	"                     weight x completion time\n"
	"  --gpu-types LIST   only these GPU types, comma-separated (default: any)\n"
	"  --name NAME        a name shown by queue (up to 63 bytes)\n"
	"  --command CMD      your own training program, started once per GPU with\n"
	"                     HARE_RANK, HARE_WORLD_SIZE, ... (default: the built-in\n"
	"                     worker for MODEL)\n"
	"  --proxy K=V,...    sizes of the built-in worker's proxy model of MODEL\n"
	"                     (batch=32,layers=4, ...: hare-worker --proxy; default:\n"
	"                     sizes matching the real model); not with --command\n"
	"  --after LIST       run after these jobs, comma-separated ids (at most 16):\n"
	"                     not planned until each is DONE (queue shows WAITING),\n"
	"                     cancelled if one is cancelled or fails; fixed once\n"
	"                     submitted. An id prefixed any: (any:41) is waited for\n"
	"                     however it ends (a clean-up step); one prefixed\n"
	"                     notok: (notok:41) only if it is cancelled or fails\n"
	"                     (this job is cancelled when it is DONE)\n"
	"  -f, --file FILE    submit every [job] section of an INI job file, in order\n"
	"                     (\"-\" reads standard input); not with the options above\n"
	"\n"
	"Job file: one [job] section per job, with the option names as keys\n"
	"(min-gpus or min_gpus). Keys start in the first column; ';' and '#' start\n"
	"comment lines, and \" ;\" a comment at the end of a line (refused in a\n"
	"command, where it would cut the command short). An after item may also\n"
	"be the name of an earlier [job] of the file (digits are always a job id):\n"
	"the id hared gave that job is sent. Every job is checked before any is\n"
	"sent; errors name the file and line.\n"
	"\n"
	"  [job]\n"
	"  name = resnet-sweep-1\n"
	"  model = resnet50\n"
	"  gpus = 8\n"
	"  min-gpus = 2\n"
	"  rounds = 20000\n"
	"  gpu-types = V100,T4\n"
	"\n"
	"  [job]\n"
	"  model = bert\n"
	"  gpus = 4\n"
	"  rounds = 5000\n"
	"  weight = 2\n"
	"  after = resnet-sweep-1\n"
	"\n"
	"Examples:\n"
	"  harectl submit --model resnet50 --gpus 4 --rounds 5000\n"
	"  harectl submit --model bert --gpus 8 --min-gpus 2 --max-gpus 8 \\\n"
	"                 --rounds 20000 --weight 2 --gpu-types V100,T4 --name bert-ft\n"
	"  harectl submit --model bert --gpus 4 --rounds 5000 --after 41,42\n"	"  harectl submit --model resnet50 --gpus 1 --rounds 10 --after any:43\n"
	"  harectl submit --file jobs.ini\n"
	"\n"
	"Prints one job id per line. Exit status 1 if hared refused a job (its\n"
	"message is printed; hared checks a file's jobs before any is submitted,\n"
	"so one refused leaves none submitted), 2 if a job is invalid (nothing is\n"
	"sent).\n";

static const char help_queue[] =
	"Usage: harectl queue [--all] [--user USER] [--state LIST] [-o table|json]\n"
	"\n"
	"List queued and running jobs in Hare's order.\n"
	"\n"
	"Columns:\n"
	"  JOBID     job id\n"
	"  USER      who submitted it\n"
	"  NAME      its --name (hared names a job without one after its model)\n"
	"  STATE     QUEUED, WAITING (queued until the jobs it runs after have\n"
	"            ended as it needs: submit --after), HELD (harectl hold; also\n"
	"            when waiting),\n"
	"            RUNNING, DONE, CANCELLED or FAILED\n"
	"  GPUS      GPUs it runs on now, or the range it may get (1-8)\n"
	"  TYPES     its GPUs by type (2xV100+1xT4), or the types it allows\n"
	"  PROGRESS  rounds done/total (percent)\n"
	"  ORDER     position in Hare's order, 1 first (- when finished, and while\n"
	"            HELD, WAITING or backing off after a failure)\n"
	"  START     when it started (3m ago), or the plan's estimate (~in 5m);\n"
	"            a WAITING job's names the job it waits for (after 42)\n"
	"  FINISH    when it finished, or the plan's estimate (~in 2h05m)\n"
	"Times more than a day away are shown as local dates (2025-03-01T14:05).\n"
	"A last line gives hared's plan count and decision latency (p50, p99).\n"
	"\n"
	"Options:\n"
	"  -a, --all          include finished, cancelled and failed jobs\n"
	"  -u, --user USER    only USER's jobs\n"
	"  -s, --state LIST   only jobs in these states, comma-separated: queued,\n"
	"                     waiting, held, running, done, cancelled, failed\n"
	"                     (finished states imply --all)\n"
	"  -o, --output FMT   table (default) or json: {\"jobs\": [...], \"lp_bound_s\": N,\n"
	"                     \"plans\": N, \"plan_p50_ms\": N, \"plan_p99_ms\": N} with every\n"
	"                     field hared sent; order counts from 0, times are unix seconds\n"
	"\n"
	"Examples:\n"
	"  harectl queue\n"
	"  harectl queue --user alice --state running,held\n"
	"  harectl queue --state waiting\n"
	"  harectl queue --state failed\n"
	"  harectl queue --all -o json | jq '.jobs[] | select(.state == \"RUNNING\")'\n";

static const char help_show[] =
	"Usage: harectl show JOBID [-o table|json]\n"
	"\n"
	"Print every field of one job as \"key: value\" lines: name, user, model,\n"
	"state, the jobs it runs after (\"after: 41 (done), any:42 (waiting)\"), tasks,\n"
	"GPU range and types, weight, rounds done, last loss, order, placement\n"
	"(node/gpu type x tasks), submit/start/finish times, the plan's\n"
	"estimates, restarts and gpu_hours: the GPU time its leases have held so\n"
	"far, by type (a GPU is counted from its lease's start to its end, restarts\n"
	"included; -o json gives gpu_seconds).\n"
	"\n"
	"Options:\n"
	"  -o, --output FMT   table (default) or json (one JobInfo object; \"after\":\n"
	"                     every id, \"after_any\" and \"after_notok\": those of\n"
	"                     each kind, \"after_pending\": those still waited for)\n"
	"\n"
	"Examples:\n"
	"  harectl show 42\n"
	"  harectl show 42 -o json\n";

static const char help_cancel[] =
	"Usage: harectl cancel JOBID...\n"
	"\n"
	"Cancel jobs: running ones are stopped (their workers get SIGTERM, then\n"
	"SIGKILL after a grace period). Users may cancel only their own jobs.\n"
	"Jobs submitted to run after a cancelled job (--after) are cancelled\n"
	"with it. Prints one line per job: \"cancelled 12\" (\"cancelled 12, and\n"
	"2 jobs after it\") or why not (\"job 13 does not exist\").\n"
	"\n"
	"Examples:\n"
	"  harectl cancel 42\n"
	"  harectl cancel 42 43 44\n"
	"\n"
	"Exit status 1 if any job was not cancelled.\n";

static const char help_nodes[] =
	"Usage: harectl nodes [-o table|json]\n"
	"\n"
	"List the nodes whose agents registered with hared.\n"
	"\n"
	"Columns:\n"
	"  NODE   node name\n"
	"  STATE  up (agent connected), down, draining (drained, jobs still on it)\n"
	"         or drained (harectl drain)\n"
	"  GPUS   its GPUs by type (4xV100+4xT4)\n"
	"  BUSY   GPUs running a job's worker (a stopped one until it exits)\n"
	"  FREE   GPUs free to plan on (0 when down or drained)\n"
	"  FAILS  workers that failed there in the last hour (-: none), and\n"
	"         leases across nodes that failed with no culprit when this node\n"
	"         is the one they all had in common; jobs whose worker failed on\n"
	"         a node are started elsewhere for a while\n"
	"  REASON why it was drained; for a node down, when its agent was last\n"
	"         seen (harectl forget removes a node gone for good); GPU types\n"
	"         not profiled or being measured (-: none of these)\n"
	"\n"
	"Options:\n"
	"  -o, --output FMT   table (default) or json (every GPU, its job id,\n"
	"                     whether it is emulated and whether a stopped worker\n"
	"                     still runs there; drained, drain_reason and\n"
	"                     recent_failures)\n"
	"\n"
	"Example:\n"
	"  harectl nodes\n";

static const char help_drain[] =
	"Usage: harectl drain NODE [--reason TEXT]\n"
	"\n"
	"Take a node out of planning, e.g. for maintenance: no job is placed on its\n"
	"GPUs, and the jobs running there are moved to other GPUs at the next plan\n"
	"(their workers are stopped and they restart from their checkpoints, or\n"
	"wait in the queue). The node stays connected and drained, across hared\n"
	"restarts, until harectl undrain. harectl nodes shows it as draining while\n"
	"workers still run there, then drained. Only root on the local socket.\n"
	"\n"
	"Options:\n"
	"  --reason TEXT      why (one line, up to 127 bytes), shown by harectl nodes\n"
	"\n"
	"Prints \"node NODE drained (N jobs moved)\", or for a node drained already\n"
	"\"node NODE was drained already (reason updated)\", or \"(reason kept)\"\n"
	"without --reason.\n"
	"\n"
	"Example:\n"
	"  sudo harectl drain gpu07 --reason 'replace GPU 3'\n";

static const char help_undrain[] =
	"Usage: harectl undrain NODE\n"
	"\n"
	"Give a drained node back to planning (see harectl drain). Only root on the\n"
	"local socket.\n"
	"\n"
	"Example:\n"
	"  sudo harectl undrain gpu07\n";

static const char help_forget[] =
	"Usage: harectl forget NODE\n"
	"\n"
	"Forget a node that is gone for good (decommissioned, renamed): harectl\n"
	"nodes no longer lists it, and its drain, its failures and jobs' avoidance\n"
	"of it go with it. The jobs' histories keep what happened there. Refused\n"
	"while its agent is connected (stop hare-agent there first) and while a\n"
	"job still has a worker there (its lease waits reconnect_grace_s for the\n"
	"agent, then the job is requeued) or a stopped worker may still hold a\n"
	"GPU there (up to the agent's stop grace plus 5 s), and for up to two\n"
	"minutes after a peer failure there that may still be charged to it. A\n"
	"node that registers with this name later is a new node. hared keeps up\n"
	"to 4096 nodes; when that many are known, a new node takes the place of\n"
	"the one down longest (for an hour at least, and neither drained nor\n"
	"failed within the hour). Only root on the local socket.\n"
	"\n"
	"Prints \"node NODE forgotten\", and what went with it.\n"
	"\n"
	"Example:\n"
	"  sudo harectl forget gpu07\n";

static const char help_usage[] =
	"Usage: harectl usage [--since WHEN] [--until WHEN] [--user USER] [-o table|json]\n"
	"\n"
	"GPU time used (accounting): the GPU-hours that jobs' leases held inside\n"
	"a window, per user and per GPU type, with the number of jobs that held\n"
	"GPUs in it (and a TOTAL row with more than one user). A GPU counts from the start of its lease to\n"
	"its end, whether the rounds were useful or the lease was later\n"
	"preempted; a running lease counts until now. A lease that ended while\n"
	"hared was down and that it did not find again at its restart counts\n"
	"until hared last wrote it down (every 30 s). Leases from before hared\n"
	"kept this table (schema 4) are not counted. Anyone may ask; hared sums\n"
	"one window at a time, and gives up after 60 s.\n"
	"\n"
	"Columns: USER, JOBS, GPU-HOURS, then one column per GPU type (at most\n"
	"12; the rest are summed in OTHER); - where the user held none of a type.\n"
	"\n"
	"Options:\n"
	"  --since WHEN       the window's start (default: 7 days before its end)\n"
	"  --until WHEN       its end (default: now)\n"
	"                     WHEN: now; a span before now: 30m, 12h, 7d, 2w;\n"
	"                     a local date: 2026-11-01 or 2026-11-01T09:30[:00];\n"
	"                     or @UNIXSECONDS\n"
	"  -u, --user USER    only USER's jobs\n"
	"  -o, --output FMT   table (default) or json: {\"since\", \"until\",\n"
	"                     \"users\": [{\"user\", \"jobs\", \"gpu_seconds\",\n"
	"                     \"types\": {TYPE: GPU-seconds}}], \"cut\": BOOL}\n"
	"\n"
	"Examples:\n"
	"  harectl usage\n"
	"  harectl usage --since 2026-11-01 --until 2026-12-01\n"
	"  harectl usage --since 24h --user alice\n";

static const char help_logs[] =
	"Usage: harectl logs JOBID [--rank R] [--lines N] [--bytes N] [--follow]\n"
	"\n"
	"Print the end of a job's output: what its worker of one rank (0 unless\n"
	"--rank) wrote on stdout and stderr, your own program's with a --command\n"
	"job. Each node keeps a rank's output in one file, with a line from the\n"
	"agent before each lease (when, which node and GPU, which rounds), so a\n"
	"failed run's last lines are there after it ended. A job that ran on\n"
	"several nodes has a file on each: every node up is asked, and the files\n"
	"are printed oldest first, each under a \"==> node NODE: FILE <==\" line.\n"
	"Control characters are shown as '?'. Your own jobs only; root reads any.\n"
	"\n"
	"Options:\n"
	"  -r, --rank R       which rank's output (default 0)\n"
	"  -n, --lines N      only the last N lines of what was fetched\n"
	"  -c, --bytes N      fetch the last N bytes in all (default 65536, at most\n"
	"                     1048576)\n"
	"  -f, --follow       then print what is added, once a second, until the job\n"
	"                     has ended (also when it moves to another node, and\n"
	"                     across a restart of hared: up to 120 s away)\n"
	"\n"
	"Nodes that are down, or whose agent does not answer within 5 s, are named\n"
	"on stderr. Exit status 1 when no node up has any output of the rank.\n"
	"\n"
	"Examples:\n"
	"  harectl logs 42\n"
	"  harectl logs 42 --rank 3 -n 20\n"
	"  harectl logs -f 42\n";

static const char help_hold[] =
	"Usage: harectl hold JOBID...\n"
	"\n"
	"Keep queued or running jobs out of Hare's plans until harectl release.\n"
	"A running job is stopped first: its workers get SIGTERM, write their\n"
	"checkpoint, and the job resumes from it once released. Held jobs show as\n"
	"HELD in harectl queue and are kept across restarts of hared. Users hold\n"
	"their own jobs; root holds any, and only root releases a job root held.\n"
	"Prints one line per job: \"job 12: held\" or why not (\"job 13 does not\n"
	"exist\").\n"
	"\n"
	"Examples:\n"
	"  harectl hold 42\n"
	"  harectl hold 42 43 && harectl release 43\n"
	"\n"
	"Exit status 1 if any job was not held.\n";

static const char help_release[] =
	"Usage: harectl release JOBID...\n"
	"\n"
	"Let held jobs (harectl hold) be planned again: each goes back to its\n"
	"place in Hare's order. A job held by root is released by root only.\n"
	"Prints one line per job: \"job 12: released\" or why not (\"job 13 does\n"
	"not exist\").\n"
	"\n"
	"Example:\n"
	"  harectl release 42\n"
	"\n"
	"Exit status 1 if any job was not released.\n";

static const char help_update[] =
	"Usage: harectl update JOBID... [--weight W] [--min-gpus A] [--max-gpus B]\n"
	"                               [--name NAME]\n"
	"\n"
	"Change queued or running jobs. The next plan orders and sizes them with\n"
	"the new values; a running job keeps its GPUs when its width still fits\n"
	"[A, B], else it is stopped (its workers checkpoint) and placed again.\n"
	"Prints one line per job: \"job 12: weight 1 -> 4\" or why not (\"job 13\n"
	"does not exist\").\n"
	"\n"
	"Options:\n"
	"  --weight W         importance, > 0: Hare minimises the sum of weight x\n"
	"                     completion time, so a higher weight runs sooner\n"
	"  --min-gpus A       fewest GPUs to run on (1 <= A <= B)\n"
	"  --max-gpus B       most GPUs to run on (at most the job's --gpus)\n"
	"  --name NAME        the name shown by queue (up to 63 bytes)\n"
	"\n"
	"Examples:\n"
	"  harectl update 42 --weight 4\n"
	"  harectl update 42 43 --max-gpus 2\n"
	"\n"
	"Exit status 1 if any job was not changed.\n";

static const char help_history[] =
	"Usage: harectl history JOBID [-n N] [-o table|json]\n"
	"\n"
	"What happened to a job, oldest first, from hared's event log: submitted,\n"
	"started (where), preempted or moved off a drained node, failed (node, rank\n"
	"and why), blamed (the node charged after a peer's failure), unexplained\n"
	"(no rank failed by itself after one lost a peer), re-queued (its\n"
	"node went down), held, changed (by whom), adopted after a restart, done or\n"
	"cancelled. Users see their own jobs; root any. The table cuts long details\n"
	"(ending them with ...); -o json has them whole.\n"
	"\n"
	"Columns: TIME (local), EVENT, DETAIL.\n"
	"\n"
	"Options:\n"
	"  -n, --lines N      the last N events (default 100, at most 1000); a note\n"
	"                     on stderr says when older ones were left out\n"
	"  -o, --output FMT   table (default) or json: {\"job_id\": N, \"events\":\n"
	"                     [{\"time\", \"kind\", \"detail\"}], \"cut\": BOOL}\n"
	"\n"
	"Examples:\n"
	"  harectl history 42\n"
	"  harectl history 42 -n 10\n";

const char *cli_help_text(enum cli_command cmd)
{
	switch (cmd) {
	case CLI_CMD_SUBMIT: return help_submit;
	case CLI_CMD_QUEUE: return help_queue;
	case CLI_CMD_SHOW: return help_show;
	case CLI_CMD_CANCEL: return help_cancel;
	case CLI_CMD_NODES: return help_nodes;
	case CLI_CMD_DRAIN: return help_drain;
	case CLI_CMD_UNDRAIN: return help_undrain;
	case CLI_CMD_LOGS: return help_logs;
	case CLI_CMD_HOLD: return help_hold;
	case CLI_CMD_RELEASE: return help_release;
	case CLI_CMD_UPDATE: return help_update;
	case CLI_CMD_HISTORY: return help_history;
	case CLI_CMD_FORGET: return help_forget;
	case CLI_CMD_USAGE: return help_usage;
	default: return help_overview;
	}
}

const char *cli_command_name(enum cli_command cmd)
{
	static const char *const names[CLI_CMD_COUNT] = {
		[CLI_CMD_NONE] = "",
		[CLI_CMD_SUBMIT] = "submit",
		[CLI_CMD_QUEUE] = "queue",
		[CLI_CMD_SHOW] = "show",
		[CLI_CMD_CANCEL] = "cancel",
		[CLI_CMD_NODES] = "nodes",
		[CLI_CMD_DRAIN] = "drain",
		[CLI_CMD_UNDRAIN] = "undrain",
		[CLI_CMD_LOGS] = "logs",
		[CLI_CMD_HOLD] = "hold",
		[CLI_CMD_RELEASE] = "release",
		[CLI_CMD_UPDATE] = "update",
		[CLI_CMD_HISTORY] = "history",
		[CLI_CMD_FORGET] = "forget",
		[CLI_CMD_USAGE] = "usage",
	};

	return cmd < CLI_CMD_COUNT ? names[cmd] : "";
}
