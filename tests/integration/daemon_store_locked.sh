#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hared while another process holds its database's write lock (an operator's
# sqlite3 session): a cancel stops the job at once and says the cancel is
# not saved yet; show and queue --all say CANCELLED meanwhile, a second
# cancel says so, and hared answers requests without waiting out the busy
# timeout for every write. Once the lock goes, hared writes the cancel
# itself: after kill -9 and a restart the job is still CANCELLED (before,
# the end was lost, show said RUNNING and the job ran again).
# Usage: daemon_store_locked.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

one_v100 reconnect_grace_s=5
job=$("$harectl" submit --model resnet50 --gpus 1 --rounds 100000000 --name locked) || fail "submit"
wait_for 20 "job $job to run" progressed "$job"

# Hold the write lock from another process until $tmp/unlock appears.
"$py" -c '
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
db.execute("ROLLBACK")
' "$tmp/state/hare.db" "$tmp/locked" "$tmp/unlock" &
pids+=($!)
locker=$!
is_locked() { [ -e "$tmp/locked" ]; }
wait_for 10 "the lock" is_locked

out=$("$harectl" --timeout 30 cancel "$job" 2>&1); rc=$?
[ $rc = 1 ] && [[ $out == "job $job stopped, but the cancel was not saved (the database is locked by another process): hared writes it again at each commit; the job runs again only if hared restarts before one succeeds" ]] &&
	echo "ok: a cancel during the lock stops the job and says it is not saved yet" ||
	fail "cancel during the lock: exit $rc, '$out'"
state_is "$job" CANCELLED && [ "$(queue_state "$job")" = CANCELLED ] &&
	echo "ok: show and queue --all say CANCELLED while it is not saved" ||
	fail "during the lock: show says $(field "$job" state), queue '$(queue_state "$job")'"
out=$("$harectl" cancel "$job" 2>&1)
[ "$out" = "job $job is already CANCELLED" ] && echo "ok: a second cancel says it is CANCELLED" ||
	fail "second cancel: '$out'"
# Requests are answered while writes keep failing (busy at once, no 2 s wait each).
start=$(date +%s%N)
for _ in 1 2 3 4 5; do "$harectl" queue >/dev/null || fail "queue during the lock"; done
ms=$((($(date +%s%N) - start) / 1000000))
[ $ms -lt $((4000 * ${HARE_TEST_SLOW:-1})) ] && echo "ok: 5 queue requests during the lock took ${ms} ms" ||
	fail "5 queue requests during the lock took ${ms} ms"
sql_state() { "$py" -c '
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT state FROM jobs WHERE id = ?", (int(sys.argv[2]),)).fetchone()[0])' "$tmp/state/hare.db" "$job"; }
[ "$(sql_state)" = 2 ] || fail "the database has state $(sql_state) for job $job during the lock (expected 2, RUNNING)"

touch "$tmp/unlock"
wait "$locker" 2>/dev/null
saved() { [ "$(sql_state)" = 4 ]; }
wait_for 10 "hared to write the cancel" saved && logged "store: writes succeed again" &&
	echo "ok: once the lock is gone hared writes the cancel itself"
kill -9 "$hpid"
wait "$hpid" 2>/dev/null
start_hared
wait_for 10 "hared to answer" "$harectl" queue
sleep 1
state_is "$job" CANCELLED && [ "$(workers_of "$job")" = 0 ] &&
	echo "ok: after kill -9 and a restart the job is still CANCELLED" ||
	fail "after restart: job $job is $(field "$job" state), $(workers_of "$job") workers"
it_finish "store locked"
