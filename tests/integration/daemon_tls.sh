#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TLS on hared's TCP ports, seen from the wire. A recording relay (lib/tap.py)
# sits between hared and each agent, and between hared and harectl --host:
# - in TLS (the default) the recording holds neither the GPU types an agent
#   registers nor the model of the task it is sent, nor the client token
#   nor the name of the job it submits; the job runs to DONE;
# - an agent with tls = no and harectl --no-tls (hared's tls = optional,
#   the default) are served, hared warns of each, harectl nodes says so,
#   and the recording holds all of it;
# - a wrong token fails the handshake, and harectl says so;
# - after a reload to tls = required, harectl --no-tls and a plaintext
#   agent are refused with words that say why; TLS sessions go on;
# - the metrics count the sessions of each kind.
# Usage: daemon_tls.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

head -c 48 /dev/urandom | base64 -w0 >"$tmp/alice.token"
{ echo "# NAME TOKEN"; echo "alice $(cat "$tmp/alice.token")"; } >"$tmp/users"
chmod 600 "$tmp/users"
head -c 48 /dev/urandom | base64 -w0 >"$tmp/wrong.token"
conf=("client_listen=127.0.0.1:0" "client_users_file=$tmp/users" "metrics_file=$tmp/hare.prom"
	metrics_interval_s=1)
write_conf 0 "${conf[@]}"
start_hared
cport=$(sed -n 's/^client_port=//p' "$tmp/ports")

# tap NAME TARGET_PORT: a relay recording into $tmp/NAME.cap; its port in tap_port
tap() {
	"$py" "$src/tests/integration/lib/tap.py" "$2" "$tmp/$1.cap" "$tmp/$1.port" &
	pids+=($!)
	for _ in $(seq 100); do [ -s "$tmp/$1.port" ] && break; sleep 0.05; done
	tap_port=$(cat "$tmp/$1.port")
}
# holds NAME TEXT: the recording NAME holds TEXT
holds() { grep -qaF -- "$2" "$tmp/$1.cap"; }
tcp() { HARE_SOCKET= "$harectl" --host "127.0.0.1:$1" --token-file "$tmp/alice.token" "${@:2}"; }

# 1. in TLS: an agent (V100) and harectl through relays
tap agent1 "$port"
port=$tap_port start_agent 1 V100:1
tap client "$cport"
name="tls-job-$RANDOM$RANDOM"
up1() { "$harectl" nodes | grep -q "^node1 *up"; }
wait_for 10 "node1 up through the relay" up1
# alice's job waits for a T4 (her account does not exist here to run it)
ja=$(tcp "$tap_port" submit --model resnet50 --gpus 1 --rounds 200 --gpu-types T4 --name "$name")
user=$("$harectl" show "$ja" -o json | "$py" -c 'import json,sys; print(json.load(sys.stdin)["user"])')
[ "$user" = alice ] && tcp "$tap_port" cancel "$ja" >/dev/null &&
	echo "ok: a job submitted over TLS is alice's (the token keyed the session), and she cancels it" ||
	fail "job $ja is '$user''s"
id=$("$harectl" submit --model resnet50 --gpus 1 --rounds 200)
wait_for 30 "job $id DONE" state_is "$id" DONE &&
	echo "ok: a job ran to DONE on an agent in TLS"
for what in V100 resnet50; do
	holds agent1 "$what" && fail "the agent's link holds '$what' in the clear"
done
for what in "$(cat "$tmp/alice.token")" "$name"; do
	holds client "$what" && fail "harectl's link holds '$what' in the clear"
done
holds agent1 node1 || fail "the agent's TLS identity (its node name) is not in the recording"
[ -s "$tmp/agent1.cap" ] && [ -s "$tmp/client.cap" ] && [ $failures -eq 0 ] &&
	echo "ok: the recordings hold neither the GPU type, the model, the token nor the job name (only the node name, TLS's identity)"
"$harectl" nodes -o json | grep -q '"name":"node1","up":true.*"tls":true' &&
	echo "ok: harectl nodes -o json says node1 is in TLS" || fail "nodes: $("$harectl" nodes -o json)"
logged "node=node1 agent=1 peer=127.0.0.1 authenticated (the cluster key, frames tagged both ways, in TLS)" ||
	fail "no 'in TLS' in hared's authenticated line"

# 2. in the clear, hared's tls = optional: served, warned of, recorded
tap agent2 "$port"
port=$tap_port start_agent 2 T4:1 --tls no
up2() { "$harectl" nodes | grep -q "^node2 *up.*its link is not in TLS (an older agent, or its tls = no)"; }
wait_for 10 "node2 up in the clear, and harectl nodes saying so" up2 &&
	echo "ok: an agent with tls = no is served; harectl nodes says its link is not in TLS"
logged "node=node2 peer=127.0.0.1: its agent does not use TLS" &&
	holds agent2 T4 && echo "ok: hared warns of it, and its recording holds its GPU type (T4)" ||
	fail "no warning, or T4 not in the clear"
tap plain "$cport"
HARE_SOCKET= "$harectl" --host "127.0.0.1:$tap_port" --token-file "$tmp/alice.token" --no-tls \
	queue >/dev/null && holds plain "$(cat "$tmp/alice.token")" &&
	logged "over TCP without TLS, so its token went in the clear" &&
	echo "ok: harectl --no-tls is served, its token is in the recording, and hared warns of it" ||
	fail "harectl --no-tls"

# 3. a token hared does not know fails the handshake
out=$(HARE_SOCKET= "$harectl" --host "127.0.0.1:$cport" --token-file "$tmp/wrong.token" queue 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -q "hared knows no such token (TLS: .*): it is not a token of client_token_file or client_users_file" &&
	echo "ok: a wrong token: $out" || fail "wrong token: '$out'"

# 4. tls = required (a reload): the clear is refused, TLS goes on
write_conf 0 "${conf[@]}" tls=required
kill -HUP "$hpid"
wait_for 10 "the reload" logged "reload: tls optional -> required"
# node2, in the clear, is closed at the reload and refused after it
wait_for 5 "node2's session closed" logged "reload: tls = required: closed 1 session in the clear (node2)"
down2() { "$harectl" nodes | grep -q "^node2 *down"; }
refused2() { grep -qF "hared now takes only TLS on this port (tls = required in hared.conf)" "$tmp/agent2.log"; }
wait_for 20 "node2 down, told why" down2 && refused2 &&
	echo "ok: the reload to tls = required closes node2's session in the clear, and tells its agent why" ||
	fail "node2 after the reload: $("$harectl" nodes | grep node2) / $(tail -2 "$tmp/agent2.log")"
out=$(HARE_SOCKET= "$harectl" --host "127.0.0.1:$cport" --token-file "$tmp/alice.token" --no-tls queue 2>&1)
[ $? -eq 1 ] && echo "$out" | grep -qF "hared takes only TLS on this port (tls = required in hared.conf): upgrade harectl, and do not give it --no-tls" &&
	echo "ok: with tls = required harectl --no-tls is refused: $out" || fail "--no-tls after required: '$out'"
tcp "$cport" queue >/dev/null && echo "ok: harectl in TLS goes on" || fail "harectl in TLS after required"
mkdir -p "$tmp/w3"
"$agent" --daemon "127.0.0.1:$port" --node node3 --gpus T4:1 --key-file "$tmp/key" --tls no \
	--work-dir="$tmp/w3" --worker "$worker" >>"$tmp/agent3.log" 2>&1 &
apid[3]=$!
refused3() { grep -qF "hared takes only TLS on this port (tls = required in hared.conf): upgrade this hare-agent, or set tls = yes in its configuration" "$tmp/agent3.log"; }
shown2() { "$harectl" nodes | grep -q "^node2 .*refused .* from 127\.0\.0\.1: its agent does not use TLS (tls = required)"; }
wait_for 10 "harectl nodes saying why node2 is out" shown2 &&
	echo "ok: harectl nodes says node2's agent does not use TLS" || fail "nodes: $("$harectl" nodes)"
wait_for 10 "node3 (tls = no) refused" refused3 && ! "$harectl" nodes | grep -q "^node3 *up" &&
	echo "ok: an agent with tls = no is refused and says why" || fail "node3: $(tail -3 "$tmp/agent3.log")"
"$harectl" nodes | grep -q "^node1 *up" && echo "ok: node1, in TLS, stays up" || fail "node1 went down"

# 5. the metrics
counted() { awk -v k="hare_tcp_sessions_total{$1}" -v n="$2" '$1 == k && $2 >= n { f = 1 } END { exit !f }' "$tmp/hare.prom"; }
all_counted() {
	counted 'tls="yes",port="agent"' 1 && counted 'tls="yes",port="client"' 2 &&
		counted 'tls="failed",port="client"' 1 && counted 'tls="no",port="agent"' 2 &&
		counted 'tls="no",port="client"' 2
}
all_counted_tls() { all_counted && grep -qE '^hare_agent_refusals_total\{reason="tls"\} [1-9]' "$tmp/hare.prom"; }
wait_for 5 "the session counts" all_counted_tls &&
	echo "ok: hare_tcp_sessions_total counts TLS, failed and plaintext sessions: $(grep '^hare_tcp_sessions_total' "$tmp/hare.prom" | tr '\n' ' ')" ||
	fail "metrics: $(grep tcp_sessions "$tmp/hare.prom")"

it_finish "TLS"
