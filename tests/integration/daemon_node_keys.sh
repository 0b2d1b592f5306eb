#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Nodes with keys of their own (agent_keys_dir): node1 holds its own key,
# node2 the cluster key (it has none of its own); both register and a job
# across them runs to DONE. node3 has a key of its own on hared but its
# agent holds the cluster key, and node1's key does not let an agent in as
# node4 (no key of its own, so the cluster key's turn): both are refused
# and never listed. A reload that points agent_keys_dir at a folder where
# node3's file holds the cluster key lets node3's agent in. Without a
# cluster key (a restart) only nodes with keys of their own come in.
# Usage: daemon_node_keys.sh BUILD_DIR SOURCE_DIR (exit 77: a binary missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@"

mkdir -m 700 "$tmp/keys" "$tmp/keys2"
for n in node1 node3; do
	head -c 48 /dev/urandom | base64 -w0 >"$tmp/keys/$n.key"
	chmod 600 "$tmp/keys/$n.key"
done
cp -p "$tmp/key" "$tmp/keys2/node3.key"

# run_agent N KEYFILE [ARGS...]: agent nodeN with one emulated V100
run_agent() {
	mkdir -p "$tmp/w$1"
	"$agent" --daemon "127.0.0.1:$port" --node "node$1" --gpus V100:1 --key-file "$2" \
		--work-dir="$tmp/w$1" --worker "$worker" "${@:3}" >>"$tmp/agent$1.log" 2>&1 &
	apid[$1]=$!
}

up_nodes() {
	"$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
print(" ".join(sorted(n["name"] for n in json.load(sys.stdin)["nodes"] if n["up"])))'
}
nodes_are() { [ "$(up_nodes)" = "$1" ]; }

write_conf 0 "agent_keys_dir=$tmp/keys" log_level=debug
start_hared
write_conf "$port" "agent_keys_dir=$tmp/keys" log_level=debug
run_agent 1 "$tmp/keys/node1.key"
run_agent 2 "$tmp/key"
wait_for 10 "node1 (its own key) and node2 (the cluster key)" nodes_are "node1 node2" &&
	echo "ok: node1 with its own key and node2 with the cluster key registered"
how_in() {
	"$harectl" nodes -o json 2>/dev/null | "$py" -c '
import json, sys
print(" ".join("%s:%s:%s" % (n["name"], n.get("own_key"), n.get("tagged"))
               for n in json.load(sys.stdin)["nodes"] if n["up"]))'
}
[ "$(how_in)" = "node1:True:True node2:False:True" ] &&
	echo "ok: harectl nodes says node1 came in with its own key, node2 with the cluster key, both tagged" ||
	fail "nodes: $(how_in)"

# 1. a job across both nodes runs to DONE (each session tagged both ways)
id=$("$harectl" submit --model resnet50 --gpus 2 --min-gpus 2 --rounds 400) || fail "submit"
wait_for 30 "job $id DONE" state_is "$id" DONE && echo "ok: a 2-node job ran to DONE"
grep -q "does not tag its frames" "$tmp/hared.log" && fail "hared says an agent does not tag"

# 2. the cluster key does not answer for node3, which has one of its own;
# node1's key does not answer for node4
run_agent 3 "$tmp/key"
mkdir -p "$tmp/w4"
# node4 without TLS, so that the Challenge's answer is what is refused
timeout 3 "$agent" --daemon "127.0.0.1:$port" --node node4 --gpus V100:1 --tls no \
	--key-file "$tmp/keys/node1.key" --work-dir="$tmp/w4" --worker "$worker" \
	>>"$tmp/agent4.log" 2>&1
wrong_key_tls="hared refused this node's key (TLS"
refused() { grep -qF "${2:-$wrong_key_tls}" "$tmp/agent$1.log"; }
wait_for 10 "node3's agent to be refused" refused 3 &&
	refused 4 "proof of the cluster key is wrong" && nodes_are "node1 node2" &&
	echo "ok: node3 with the cluster key and node4 with node1's key are refused" ||
	fail "node3/node4: $(tail -2 "$tmp/agent3.log") / $(tail -2 "$tmp/agent4.log"); nodes: $(up_nodes)"

# 3. a reload to a folder that is not there keeps the one in use (else
# every node would take the cluster key); one to a folder where node3's key
# is the cluster key lets it in (it retries with back-off)
write_conf "$port" "agent_keys_dir=$tmp/typo" log_level=debug
kill -HUP "$hpid"
typo_kept() { grep -q "reload: agent_keys_dir $tmp/keys kept: agent_keys_dir $tmp/typo: No such file" "$tmp/hared.log"; }
wait_for 10 "the reload to a missing folder refused" typo_kept && sleep 1 && nodes_are "node1 node2" &&
	echo "ok: a reload to a missing agent_keys_dir keeps the folder in use; node3 stays out"
write_conf "$port" "agent_keys_dir=$tmp/keys2" log_level=debug
kill -HUP "$hpid"
wait_for 30 "node3 after the reload" nodes_are "node1 node2 node3" &&
	grep -q "reload: agent_keys_dir $tmp/keys -> $tmp/keys2" "$tmp/hared.log" &&
	echo "ok: after a reload of agent_keys_dir, node3 registers"
# node1, in with its own key from the old folder, is named
grep -q "reload: 1 node connected with its own key from $tmp/keys (node1): it keeps the session, and the next takes the key from $tmp/keys2 (or the cluster key)" "$tmp/hared.log" &&
	echo "ok: the reload names node1, whose next session takes its key from the new folder" ||
	fail "no reload note for node1: $(grep 'reload: ' "$tmp/hared.log" | tail -3)"

# 4. without a cluster key (a restart: cluster_key_file is read at start)
# only nodes with keys of their own come in: node2 is refused at its Hello
# and says why; node1 comes back
write_conf "$port" "agent_keys_dir=$tmp/keys" "cluster_key_file=" log_level=debug \
	"metrics_file=$tmp/hare.prom" metrics_interval_s=1
"$hared" --config "$tmp/hared.conf" --check-config >/dev/null 2>&1 ||
	fail "check-config with agent_keys_dir and no cluster key"
kill "$hpid"
wait "$hpid" 2>/dev/null
start_hared
no_key() { grep -q "hared refused the TLS handshake for node node2 (.*): it has no usable key for the node (hared's log says why" "$tmp/agent2.log"; }
wait_for 30 "node1 back, node2 refused" no_key && wait_for 30 "node1 back" nodes_are node1 &&
	echo "ok: without a cluster key node2 is refused at its Hello; node1 comes back"
refused_shown() { "$harectl" nodes | grep -E "^node2 .*refused .* from 127\.0\.0\.1: hared has no usable key for it" >/dev/null; }
wait_for 5 "harectl nodes to say why node2 is down" refused_shown &&
	echo "ok: harectl nodes says node2 was refused (from where, and why)" ||
	fail "nodes: $("$harectl" nodes)"
counted() { grep -qE "^hare_agent_refusals_total\\{reason=\"$1\"\\} [1-9]" "$tmp/hare.prom"; }
wait_for 5 "the refusals in the metrics" counted no_key && wait_for 10 "node3's in the metrics" counted key &&
	grep -q '^hare_agent_refusals_total{reason="tag"} 0$' "$tmp/hare.prom" &&
	echo "ok: hare_agent_refusals_total counts node2's refusals (no_key) and node3's TLS handshakes with the wrong key (key), no tag refusal" ||
	fail "metrics: $(grep refusals "$tmp/hare.prom")"

it_finish "node key"
