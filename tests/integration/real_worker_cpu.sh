#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The real-worker path without a GPU: hared and two agents with one emulated
# V100 each and worker_engine = cpu, so every job trains its proxy model for
# real (hare-worker --engine cpu). (1) Small ncf jobs run to DONE, their
# round reports arrive while they run, and hared's start/finish times match
# the workers' own timing; an lm job of its own (small) proxy sizes trains
# them. (2) The rendezvous relay: a job's own program
# announces 144 known bytes from rank 0; rank 1, on the other node, finds
# exactly those bytes in its id file, written by its agent from hared's
# Rendezvous. (3) A two-rank ncf job: rank 1 receives rank 0's id through
# the relay and then fails on the one-rank CPU engine, not on the
# rendezvous. Id files go with their leases.
# Usage: real_worker_cpu.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

# real workers: profile seconds are wall seconds
write_conf 0 time_scale=1 max_retries=1 retry_backoff_s=1 log_level=debug
start_hared
for i in 1 2; do start_agent "$i" V100:1 --worker-engine cpu; done

nodes_up() {
	"$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
nodes = json.load(sys.stdin)["nodes"]
sys.exit(0 if len(nodes) == 2 and all(n["up"] for n in nodes) else 1)'
}

# finished JOB...: every job listed is past RUNNING and QUEUED.
finished() {
	queue_json | "$py" -c '
import json, sys
jobs = {j["job_id"]: j for j in json.load(sys.stdin)["jobs"]}
sys.exit(0 if all(jobs.get(int(i), {}).get("state") in ("DONE", "FAILED", "CANCELLED")
                  for i in sys.argv[1:]) else 1)' "$@"
}

submit() {
	local id
	id=$("$harectl" submit "$@") || { fail "submit $*"; echo 0; return; }
	echo "$id"
}

wait_for 10 "two agents" nodes_up && echo "ok: two agents with one emulated V100 each (cpu engine)"

# 1. Small jobs train for real and finish. Progress is sampled while they
# run: round reports must arrive before the end, not all at once.
jobs=()
jobs+=("$(submit --model ncf --gpus 1 --rounds 400 --name ncf-a)")
jobs+=("$(submit --model ncf --gpus 1 --rounds 200 --name ncf-b)")
jobs+=("$(submit --model ncf --gpus 2 --max-gpus 1 --rounds 150 --name ncf-2tasks)")
: >"$tmp/progress"
sample_progress() {
	queue_json | "$py" -c '
import json, sys
for j in json.load(sys.stdin)["jobs"]:
    if j["state"] == "RUNNING" and 0 < j.get("rounds_done", 0) < j["rounds_total"]:
        print(j["job_id"], j["rounds_done"])' >>"$tmp/progress"
	finished "${jobs[@]}"
}
wait_for 45 "the ncf jobs to finish" sample_progress
partial=$(cut -d' ' -f1 "$tmp/progress" | sort -u | wc -l)
[ "$partial" -ge 1 ] && echo "ok: round reports arrived while jobs ran (partial progress of $partial jobs seen)" \
	|| fail "no job was ever seen part-way: round reports did not arrive while running"
# hared's view against the workers': every round done, a loss near ln 2
# (two classes), and start-to-finish no shorter than the workers' own
# timed rounds and not much longer (worker start-up on a loaded machine).
cat "$tmp"/agent*.log "$tmp"/w*/logs/*.log >"$tmp/all.log"	# with the workers' output
for id in "${jobs[@]}"; do
	"$harectl" show "$id" >"$tmp/show.$id" || fail "harectl show $id"
	"$harectl" show "$id" -o json | "$py" -c '
import json, re, sys
j = json.load(sys.stdin)
jid, log = j["job_id"], open(sys.argv[1]).read()
m = re.findall(r"worker job=%d lease=\d+ rank=0: done after (\d+) rounds; device-timed ([0-9.]+) s, host wall ([0-9.]+) s" % jid, log)
errs = []
if j["state"] != "DONE" or j["rounds_done"] != j["rounds_total"]:
    errs.append("state %s, rounds %s/%s" % (j["state"], j["rounds_done"], j["rounds_total"]))
if not m:
    errs.append("no done line of its worker in the agent logs or its output files")
else:
    rounds, dev, wall = int(m[-1][0]), float(m[-1][1]), float(m[-1][2])
    span = j["finish_time"] - j["start_time"]
    per = span / j["rounds_total"]
    if rounds != j["rounds_total"]:
        errs.append("worker did %d rounds" % rounds)
    if not (wall - 0.05 <= span <= wall + 15):
        errs.append("start to finish %.3f s, worker rounds took %.3f s" % (span, wall))
    if not (1e-4 < per < 0.5):
        errs.append("%.4f s per round" % per)
loss = j.get("loss")
if loss is None or not (0.3 < loss < 1.2):
    errs.append("loss %r" % loss)
if errs:
    print("job %d: %s" % (jid, "; ".join(errs)))
    sys.exit(1)
print("ok: job %d (%s) DONE, %d rounds in %.2f s (%.1f ms/round; worker %.2f s), loss %.4f"
      % (jid, j["name"], j["rounds_total"], span, 1000 * per, wall, loss))' "$tmp/all.log" \
		|| fail "job $id"
done
grep -q "worker job=${jobs[2]} lease=[0-9]* rank=0/1 model=ncf engine=cpu .* tasks=2 first_task=0 job_tasks=2" \
	"$tmp/all.log" || fail "job ${jobs[2]}: not one rank running both tasks"
grep -q "bad report line" "$tmp/all.log" && fail "an agent logged bad report lines"

# 1b. A job of its own proxy sizes: an lm small enough for the CPU engine
# (at its default sizes a round takes seconds here). Its workers get the
# sizes (--proxy) and train them: a small model, and a loss below ln 64.
lm=$(submit --model lm --gpus 1 --rounds 200 --name lm-small \
	--proxy batch=8,vocab=64,classes=64,seq=8,hidden=32,layers=1)
wait_for 30 "the small lm job" finished "$lm"
cat "$tmp"/agent*.log "$tmp"/w*/logs/*.log >"$tmp/all.log"	# with the workers' output
params=$(sed -n "s/.*worker job=$lm lease=[0-9]* rank=0\/1 model=lm engine=cpu .* params=\([0-9]*\) .*/\1/p" \
	"$tmp/all.log" | head -1)
"$harectl" show "$lm" -o json | "$py" -c '
import json, math, sys
j = json.load(sys.stdin)
ok = (j["state"] == "DONE" and j["rounds_done"] == 200 and j.get("proxy", "").startswith("batch=8,")
      and j.get("loss", 9) < math.log(64) - 0.5)
print("job %d: %s, proxy %s, loss %s" % (j["job_id"], j["state"], j.get("proxy"), j.get("loss")))
sys.exit(0 if ok else 1)' && [ -n "$params" ] && [ "$params" -lt 100000 ] &&
	echo "ok: job $lm trained its own proxy sizes ($params parameters)" ||
	fail "job $lm: proxy sizes not trained (parameters '${params}')"

# 2. The relay, byte for byte, across nodes: a job's own program.
b64=$("$py" -c 'import base64, os; print(base64.b64encode(os.urandom(144)).decode())')
cat >"$tmp/rdv_job.sh" <<EOF
#!/bin/sh
# rank 0 announces the bytes; rank 1 waits for its id file and keeps a copy
echo "\$PWD" >"$tmp/rdv_rank\$HARE_RANK.cwd"
if [ "\$HARE_RANK" = 0 ]; then
	printf 'rendezvous %s\n' "$b64" >&\$HARE_REPORT_FD
else
	i=0
	while [ ! -s "\$HARE_NCCL_ID_FILE" ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i + 1)); done
	cp "\$HARE_NCCL_ID_FILE" "$tmp/rdv_rank1.txt"
fi
printf 'round 0 1 0.01 0 1\ndone 1\n' >&\$HARE_REPORT_FD
EOF
relay=$(submit --model ncf --gpus 2 --min-gpus 2 --rounds 1 --name relay --command "sh $tmp/rdv_job.sh")
wait_for 25 "the relay job" finished "$relay"
got=$(cat "$tmp/rdv_rank1.txt" 2>/dev/null)
cwd0=$(cat "$tmp/rdv_rank0.cwd" 2>/dev/null)
cwd1=$(cat "$tmp/rdv_rank1.cwd" 2>/dev/null)
if [ "$got" = "rendezvous $b64" ] && [ -n "$cwd0" ] && [ "$cwd0" != "$cwd1" ]; then
	n=$(basename "$cwd1")
	grep -q "agent rendezvous job=$relay lease=[0-9]* from=daemon bytes=144 written" \
		"$tmp/agent${n#w}.log" || fail "rank 1's agent did not log the relayed rendezvous"
	echo "ok: rank 1 on $n got rank 0's 144 bytes from $(basename "$cwd0") through hared"
else
	fail "relay: rank 1 read '${got:0:40}...' (want 'rendezvous ${b64:0:29}...'), ranks in '$cwd0' and '$cwd1'"
fi

# 3. Two ranks of real workers: rank 1 gets rank 0's id through the relay,
# then the one-rank CPU engine refuses (the job fails after its retry).
pair=$(submit --model ncf --gpus 2 --min-gpus 2 --rounds 10 --name pair)
wait_for 30 "the two-rank job to end" finished "$pair"
cat "$tmp"/agent*.log "$tmp"/w*/logs/*.log >"$tmp/all.log"	# with the workers' output
opened=$(grep -c "hare-worker: job $pair rank 1: the cpu engine runs a single rank, not 2" "$tmp/all.log")
relayed=$(grep -c "agent rendezvous job=$pair lease=[0-9]* from=daemon bytes=144 written" "$tmp/all.log")
if [ "$opened" -ge 1 ] && [ "$relayed" -ge 1 ] &&
	! grep -q "hare-worker: job $pair rank 1: .*rendezvous" "$tmp/all.log"; then
	echo "ok: job $pair: rank 1 met rank 0 through hared $relayed time(s), then the one-rank engine refused"
else
	fail "job $pair: rank 1 opened the engine $opened time(s), relayed $relayed; $(grep "job $pair rank 1" "$tmp/all.log" | head -3)"
fi

# 4. Workers run as their job's owner (the agents here are root): a user
# without a passwd entry (hared names it uid4242; the agents run its workers
# as uid 4242, group nogroup) gets its own ids and HOME, its own checkpoint
# folder (0700), and its lease's id file (0600, its own) readable through
# the agent's work_dir, which it cannot list. Skipped where the test is not
# root or uid 4242 cannot reach the binaries (a private home folder).
u=4242
as_u() { setpriv --reuid=$u --regid=65534 --clear-groups "$@"; }
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "skip: workers as their owner (not root, or no setpriv)"
elif ! as_u test -x "$worker" || ! as_u test -x "$harectl"; then
	echo "skip: workers as their owner (uid $u cannot reach $build)"
else
	chmod 711 "$tmp"
	mkdir -m 700 "$tmp/u$u" && chown "$u" "$tmp/u$u"
	cat >"$tmp/u$u/ids.sh" <<EOF
#!/bin/sh
echo "ids \$(id -u):\$(id -g) home \$HOME user \$USER rank \$HARE_RANK"
if [ "\$HARE_RANK" = 0 ]; then
	printf 'rendezvous %s\n' "$b64" >&\$HARE_REPORT_FD
else
	i=0
	while [ ! -s "\$HARE_NCCL_ID_FILE" ] && [ \$i -lt 300 ]; do sleep 0.05; i=\$((i + 1)); done
	echo "id file \$(stat -c %u:%a "\$HARE_NCCL_ID_FILE") \$(cat "\$HARE_NCCL_ID_FILE")"
	ls "\$(dirname "\$HARE_NCCL_ID_FILE")" >/dev/null 2>&1 && echo "tasks folder listed"
	ls -d "\$PWD/checkpoints/\$HARE_JOB_ID" >/dev/null 2>&1 || echo "no checkpoint folder"
fi
printf 'round 0 1 0.01 0 1\ndone 1\n' >&\$HARE_REPORT_FD
EOF
	chown "$u" "$tmp/u$u/ids.sh"
	owned=$(as_u "$harectl" submit --model ncf --gpus 2 --min-gpus 2 --rounds 1 --name owned \
		--command "sh $tmp/u$u/ids.sh") || fail "submit as uid $u"
	own_real=$(as_u "$harectl" submit --model ncf --gpus 1 --rounds 100 --name owned-real) ||
		fail "submit a real job as uid $u"
	# two ranks of real workers as uid 4242: rank 0 cannot write the id
	# file in the agent's tasks/ (its agent does, from its line); rank 1
	# gets it and then meets the one-rank engine's refusal, as in 3.
	own_pair=$(as_u "$harectl" submit --model ncf --gpus 2 --min-gpus 2 --rounds 10 --name owned-pair) ||
		fail "submit a two-rank job as uid $u"
	wait_for 30 "uid $u's jobs" finished "$owned" "$own_real" "$own_pair"
	cat "$tmp"/agent*.log "$tmp"/w*/logs/*.log >"$tmp/all.log"
	if grep -q "hare-worker: job $own_pair rank 1: the cpu engine runs a single rank, not 2" "$tmp/all.log" &&
		! grep -q "job $own_pair rank 0: .*cannot write" "$tmp/all.log"; then
		echo "ok: job $own_pair of uid $u: rank 1 met rank 0 through the agents' id files, then the one-rank engine refused"
	else
		fail "job $own_pair of uid $u: $(grep "job $own_pair rank" "$tmp/all.log" | head -3)"
	fi
	"$harectl" logs "$owned" --rank 0 >"$tmp/owned0.txt" 2>&1
	"$harectl" logs "$owned" --rank 1 >"$tmp/owned1.txt" 2>&1
	ckpt=$(stat -c %u:%a "$tmp"/w*/checkpoints/"$own_real" 2>/dev/null | head -1)
	if grep -q "^ids $u:65534 home / user uid$u rank 0" "$tmp/owned0.txt" &&
		grep -q "^ids $u:65534 home / user uid$u rank 1" "$tmp/owned1.txt" &&
		grep -q "^id file $u:600 rendezvous $b64" "$tmp/owned1.txt" &&
		! grep -q "tasks folder listed\|no checkpoint folder" "$tmp/owned1.txt" &&
		state_is "$owned" DONE && state_is "$own_real" DONE && [ "$ckpt" = "$u:700" ]; then
		echo "ok: uid $u's workers ran as $u:65534 (HOME /, USER uid$u), read their 0600 id file," \
			"could not list tasks/; a real job of it DONE with its checkpoint folder $ckpt"
	else
		fail "workers as their owner: states $(field "$owned" state)/$(field "$own_real" state)," \
			"checkpoint folder '$ckpt'; rank 0: $(head -c 300 "$tmp/owned0.txt"); rank 1: $(head -c 400 "$tmp/owned1.txt")"
	fi
fi

# Every lease is over: no id file is left.
no_rdv_files() { ! ls "$tmp"/w*/tasks/*.rdv* >/dev/null 2>&1; }
wait_for 5 "the id files to go" no_rdv_files && echo "ok: no id file left"

it_finish real-worker
