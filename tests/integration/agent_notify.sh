#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-agent under systemd (Type=notify): READY=1 comes as soon as the agent
# runs, before hared answers (a unit waiting for hared would hold up
# systemctl and the boot), STATUS= says why the link is down while hared is
# away, and "registered" once it is up. A python3 datagram socket stands in
# for systemd's NOTIFY_SOCKET.
set -u
. "$(dirname "$0")/lib/cluster.bash"
it_setup "$@"

# Messages to $tmp/notify, one per line, '\n' inside a message as ' | '.
"$py" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", " | ") + "\n")
' "$tmp/notify" "$tmp/notify.log" &
pids+=($!)
for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.1; done

# A port nobody listens on: hared is down.
free_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
port=$free_port
NOTIFY_SOCKET="$tmp/notify" start_agent 1 V100:1
notified() { grep -q "$1" "$tmp/notify.log" 2>/dev/null; }
wait_for 5 "READY=1 with hared down" notified "^READY=1 | STATUS=connecting to 127.0.0.1:$port$" &&
	echo "ok: READY=1 before hared answers"
wait_for 5 "a STATUS saying the link is down" notified "^STATUS=reconnecting to 127.0.0.1:$port (.\+)$" &&
	echo "ok: STATUS says why the link is down: $(grep -m1 reconnecting "$tmp/notify.log")"

# Something else on that port (a web server): the STATUS says the peer is
# not hared.
"$py" -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.recv(256); c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"); c.close()
' "$port" &
web=$!
pids+=($web)
wait_for 15 "a STATUS saying the peer is not hared" notified "^STATUS=reconnecting to 127.0.0.1:$port (TLS with 127.0.0.1:$port failed (.*): is it hared's agent_listen?)$" &&
	echo "ok: STATUS says a peer that is not hared is not hared"
kill "$web"
wait "$web" 2>/dev/null

# hared comes up on that port: the agent registers and says so.
write_conf "$port"
start_hared
wait_for 20 "STATUS=registered" notified "^STATUS=registered with 127.0.0.1:$port$" &&
	echo "ok: STATUS=registered once hared is up"
[ "$(grep -c 'READY=1' "$tmp/notify.log")" = 1 ] && echo "ok: READY=1 sent once" ||
	fail "READY=1 sent $(grep -c 'READY=1' "$tmp/notify.log") times"

# hared stops: the agent says it reconnects, and stays up.
kill -TERM "$hpid"
wait "$hpid" 2>/dev/null
n_before=$(grep -c reconnecting "$tmp/notify.log")
more_reconnecting() { [ "$(grep -c reconnecting "$tmp/notify.log")" -gt "$n_before" ]; }
wait_for 10 "STATUS=reconnecting after hared stopped" more_reconnecting &&
	kill -0 "${apid[1]}" && echo "ok: STATUS=reconnecting after hared stopped; the agent runs on"
it_finish "agent notify"
