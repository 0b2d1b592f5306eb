#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hared --check-config answers as the start does for the folders the
# configuration names: a state_dir whose parents are missing is accepted
# (and the start makes them, like mkdir -p), one in a folder that takes no
# new folders is refused by both with the same message, and so is a
# client_socket whose folder is missing. The reload's "would hared start
# again" check says the same. One file may serve hared and hare-agent: hared
# skips its [agent] section. A start refused for what the check checks (a
# missing key file or profiles folder) exits 2, which hared.service does
# not restart; one refused for the moment (a port in use, a state_dir
# another hared holds) exits 1.
# Usage: daemon_check_config.sh BUILD_DIR SOURCE_DIR (exit 77: hared or
# python3 missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@" daemon-only

# check: hared --check-config's exit status, and its message in $out.
check() {
	out=$("$hared" --config "$tmp/hared.conf" --check-config 2>&1)
}

# refused_alike WANT: the check and the start both refuse the
# configuration, with the same message, which starts with WANT; the start
# exits 2, as the check does.
refused_alike() {
	local log="$tmp/start.log" rc msg
	check && { fail "check accepted it ($out), want '$1'"; return; }
	msg=${out#hared: }
	[ "${msg#"$1"}" != "$msg" ] || fail "check: '$out', want '$1...'"
	timeout 20 "$hared" --config "$tmp/hared.conf" >"$log" 2>&1
	rc=$?
	[ $rc -eq 2 ] || fail "start with '$1': exit $rc, want 2"
	grep -qxF "<3>hared: $msg" "$log" || { fail "the start does not say '$msg'"; cat "$log"; }
}

# 1. A state_dir whose parents are missing: the check makes nothing; the
# start makes them all, state_dir itself 0750.
write_conf 0 state_dir="$tmp/deep/a/b"
check && [ "$out" = "hared: $tmp/hared.conf: configuration OK" ] || fail "check: '$out'"
[ -e "$tmp/deep" ] && fail "--check-config made $tmp/deep"
start_hared
"$harectl" queue >/dev/null || fail "harectl queue with state_dir $tmp/deep/a/b"
[ -f "$tmp/deep/a/b/hare.db" ] || fail "no hare.db in $tmp/deep/a/b"
[ "$(stat -c %a "$tmp/deep/a/b")" = 750 ] || fail "state_dir mode $(stat -c %a "$tmp/deep/a/b"), want 750"
echo "ok: a state_dir with missing parents passes the check and is made at start"

# The reload checks what waits for a restart the same way.
in_log() { grep -qF -- "$1" "$tmp/hared.log"; }
write_conf 0 state_dir="$tmp/deep/c/d"
kill -HUP "$hpid"
wait_for 10 "the first reload" in_log "reload: 0 settings changed now, 1 at the next start"
in_log "would not start again" && fail "reload: a state_dir hared can make is refused"
write_conf 0 state_dir="/proc/hare-check-$$/a"
kill -HUP "$hpid"
wait_for 10 "the second reload" in_log "reload: hared would not start again with $tmp/hared.conf: \
state_dir /proc/hare-check-$$/a: cannot create " &&
	echo "ok: the reload warns of a state_dir that cannot be made"
write_conf 0 state_dir="$tmp/deep/a/b" client_socket="$tmp/nodir/x.sock"
kill -HUP "$hpid"
wait_for 10 "the third reload" in_log "reload: hared would not start again with $tmp/hared.conf: \
client_socket $tmp/nodir/x.sock: folder $tmp/nodir does not exist" &&
	echo "ok: the reload warns of a client_socket whose folder is missing"
[ -e "$tmp/deep/c" ] && fail "the reload's check made $tmp/deep/c"
kill "$hpid"
wait "$hpid"

# 2. A state_dir in a folder that takes none (/proc: root may write there
# by access(), but mkdir fails) is refused by both.
write_conf 0 state_dir="/proc/hare-check-$$/a"
refused_alike "state_dir /proc/hare-check-$$/a: cannot create " &&
	echo "ok: a state_dir that cannot be made is refused by the check and the start alike"

# 3. A client_socket whose folder is missing, or is a file.
write_conf 0 client_socket="$tmp/nodir/x.sock"
refused_alike "client_socket $tmp/nodir/x.sock: folder $tmp/nodir does not exist"
write_conf 0 client_socket="$tmp/key/x.sock"
refused_alike "client_socket $tmp/key/x.sock: $tmp/key is not a directory"
echo "ok: a client_socket without its folder is refused by the check and the start alike"

# 4. One file for hared and hare-agent.
write_conf 0
cat >>"$tmp/hared.conf" <<EOF

[agent]
daemon = 127.0.0.1:7070
cluster_key_file = $tmp/key
gpus = V100:1
EOF
check && [ "$out" = "hared: $tmp/hared.conf: configuration OK" ] || fail "check of a combined file: '$out'"
start_hared
"$harectl" queue >/dev/null || fail "harectl queue with a combined file"
kill "$hpid"
wait "$hpid"
echo "ok: hared checks and starts with a file that has an [agent] section"

# 5. A missing key file or profiles folder: exit 2 from the start too.
write_conf 0 cluster_key_file="$tmp/nokey"
refused_alike "$tmp/nokey: " && echo "ok: a missing cluster_key_file: the start exits 2"
write_conf 0 profiles="$tmp/noprofiles"
refused_alike "$tmp/noprofiles" && echo "ok: a missing profiles folder: the start exits 2"

# 6. A port in use is not the configuration's fault: exit 1 (systemd
# tries again).
write_conf 0
start_hared
write_conf "$port" state_dir="$tmp/state2" client_socket="$tmp/second.sock"
check || fail "check with agent_listen in use: '$out'"
timeout 20 "$hared" --config "$tmp/hared.conf" >"$tmp/start.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -qF "cannot listen on 127.0.0.1:$port" "$tmp/start.log" &&
	echo "ok: a port in use: the start exits 1" ||
	{ fail "start with port $port in use: exit $rc, want 1"; cat "$tmp/start.log"; }
write_conf 0 client_socket="$tmp/second.sock"
timeout 20 "$hared" --config "$tmp/hared.conf" >"$tmp/start.log" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -qF "is in use by another hared" "$tmp/start.log" &&
	echo "ok: a state_dir in use by another hared: the start exits 1" ||
	{ fail "start with state_dir in use: exit $rc, want 1"; cat "$tmp/start.log"; }
kill "$hpid"
wait "$hpid"

# 7. No configuration file where hared looks by default: say how to give one.
if [ ! -e /etc/hare/hared.conf ]; then
	out=$("$hared" --check-config 2>&1)
	rc=$?
	[ $rc -eq 2 ] && [ "$out" = "hared: /etc/hare/hared.conf: No such file or directory (use --config \
FILE; an example is hared.conf.example, in share/doc/hare/examples/ of the install)" ] &&
		echo "ok: without /etc/hare/hared.conf hared says to use --config" ||
		fail "without /etc/hare/hared.conf: exit $rc, '$out'"
fi

grep -qE "Sanitizer|runtime error" "$tmp/hared.log" "$tmp/start.log" && fail "sanitizer report in a log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; tail -30 "$tmp/hared.log"
	exit 1
fi
echo "all check-config checks passed in $(($(date +%s) - t0))s"
