#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hared reloads its configuration on SIGHUP: keys that may change while it
# runs take effect at once (log_level here: debug lines appear), the others
# are logged as waiting for the next start, a configuration that is not
# valid changes nothing, and hared answers throughout.
# Usage: daemon_reload.sh BUILD_DIR SOURCE_DIR (exit 77: hared or python3
# missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@" daemon-only

write_conf 0 log_level=info
start_hared
in_log() { grep -qF -- "$1" "$tmp/hared.log"; }
"$harectl" queue >/dev/null || fail "harectl queue before the reload"
debug_before=$(grep -c '^<7>' "$tmp/hared.log")

# 1. Live and restart-only keys.
mode_before=$(stat -c %a "$tmp/hared.sock")
write_conf 0 log_level=debug quarantine_jobs=3 policy=fifo client_socket_mode=0600
kill -HUP "$hpid"
wait_for 10 "the reload" in_log "reload: 2 settings changed now, 2 at the next start" &&
	echo "ok: reload applied 2 settings, 2 wait for a restart"
[ "$(stat -c %a "$tmp/hared.sock")" = "$mode_before" ] ||
	fail "client_socket_mode changed by a reload (it waits for a restart)"
in_log "reload: log_level info -> debug" || fail "log_level change not logged"
in_log "reload: quarantine_jobs 0 -> 3" || fail "quarantine_jobs change not logged"
in_log "reload: policy hare -> fifo takes effect when hared restarts" ||
	fail "policy change not logged as waiting for a restart"
"$harectl" queue >/dev/null || fail "harectl queue after the reload"
[ "$(grep -c '^<7>' "$tmp/hared.log")" -gt "$debug_before" ] &&
	echo "ok: log_level debug in effect" || fail "no debug lines after log_level = debug"

# 2. A configuration that is not valid changes nothing.
write_conf 0 log_level=loud
kill -HUP "$hpid"
wait_for 10 "the refused reload" in_log "the configuration in use is kept" &&
	echo "ok: a bad configuration is refused, the one in use kept"
in_log "log_level: expected error, warn, info or debug, got 'loud'" ||
	fail "the refused reload does not say why"
"$harectl" queue >/dev/null || fail "harectl queue after a refused reload"
kill -0 "$hpid" 2>/dev/null || fail "hared is gone"

# 3. Nothing changed: nothing to apply. A profile folder that is not
# there waits for a restart, but the reload warns that hared would not
# start with it.
write_conf 0 log_level=debug quarantine_jobs=3 policy=fifo client_socket_mode=0600 \
	profiles="$tmp/nowhere"
kill -HUP "$hpid"
wait_for 10 "the third reload" in_log "reload: 0 settings changed now, 3 at the next start"
in_log "reload: hared would not start again with $tmp/hared.conf" ||
	fail "no warning that the configuration would not start"
"$harectl" queue >/dev/null || fail "harectl queue after the third reload"

grep -qE "Sanitizer|runtime error" "$tmp/hared.log" && fail "sanitizer report in the hared log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; tail -30 "$tmp/hared.log"
	exit 1
fi
echo "all reload checks passed in $(($(date +%s) - t0))s"
