#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hared on bad input: malformed and oversized frames, messages out of order,
# a wrong protocol version, an agent with the wrong key, reports for unknown
# jobs and bad job specs each get the right Error (and a close where the
# session cannot go on), and the daemon keeps answering afterwards.
# Usage: daemon_bad_input.sh BUILD_DIR SOURCE_DIR (exit 77: hared or python3
# missing).
set -u

. "$(dirname "${BASH_SOURCE[0]}")/lib/cluster.bash"
it_setup "$@" daemon-only

head -c 48 /dev/urandom | base64 -w0 >"$tmp/token"
# a token of her own: alice acts as alice over TCP, not as "remote"
head -c 48 /dev/urandom | base64 -w0 >"$tmp/alice.token"
{ echo "# NAME TOKEN"; echo "alice $(cat "$tmp/alice.token")"; } >"$tmp/users"
chmod 600 "$tmp/users"
cat >"$tmp/hared.conf" <<EOF
[daemon]
agent_listen = 127.0.0.1:0
client_socket = $tmp/hared.sock
state_dir = $tmp/state
cluster_key_file = $tmp/key
client_listen = 127.0.0.1:0
client_token_file = $tmp/token
client_users_file = $tmp/users
profiles = $src/workloads/profiles
port_file = $tmp/ports
client_socket_mode = 0660
max_frame = 131072
max_queued_mib = 16
replan_debounce_ms = 10
log_level = debug
EOF

# A link where port_file's temporary file goes (someone who may write in its
# folder): hared writes a file of its own, not the one the link names.
echo keep >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/ports.tmp"
"$hared" --config "$tmp/hared.conf" >"$tmp/hared.log" 2>&1 &
hpid=$!
pids+=("$hpid")
for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.05; done
[ -s "$tmp/ports" ] || { cat "$tmp/hared.log"; echo "FAIL: hared did not start"; exit 1; }
if [ "$(cat "$tmp/victim")" = keep ] && [ ! -L "$tmp/ports" ] && [ ! -e "$tmp/ports.tmp" ]; then
	echo "ok: port_file is written past a link at its temporary name, not through it"
else
	fail "port_file: the link's target holds '$(cat "$tmp/victim")'"
fi
# the socket is made with client_socket_mode (no chmod of the path after it)
mode=$(stat -c %a "$tmp/hared.sock")
[ "$mode" = 660 ] && echo "ok: the client socket has client_socket_mode 0660" ||
	fail "client socket mode $mode, want 660"
port=$(sed -n 's/^agent_port=//p' "$tmp/ports")
cport=$(sed -n 's/^client_port=//p' "$tmp/ports")

# Raw protocol from Python: hand-encoded protobuf, one check per case.
python3 - "$tmp/hared.sock" "$port" "$tmp/key" "$cport" "$tmp/token" <<'PY' || failures=$((failures + 1))
import hashlib, hmac, socket, struct, sys, time

sock_path, port, key_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cport, token = int(sys.argv[4]), open(sys.argv[5]).read().strip()
key = open(key_path, "rb").read().rstrip(b"\r\n\t ")
ERR_PROTO, ERR_FRAME_TOO_BIG, ERR_BAD_SPEC = -10000, -9999, -9998
ERR_UNKNOWN_MODEL, ERR_UNKNOWN_GPU, EACCES = -9994, -9993, -13
bad = 0

def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])

def fv(num, v): return varint(num << 3) + varint(v)
def fb(num, b): return varint(num << 3 | 2) + varint(len(b)) + b
def fd(num, x): return varint(num << 3 | 1) + struct.pack("<d", x)
def frame(p): return struct.pack(">I", len(p)) + p

def hello(role, node=None, version=1, token=None):
    m = fv(1, version) + fv(2, role)
    if node: m += fb(3, node.encode())
    if token: m += fb(4, token.encode())
    return fb(1, m)

def spec(model="resnet50", tasks=2, rounds=100, **kw):
    m = fb(2, model.encode()) + fv(3, tasks) + fv(6, rounds)
    if "min_gpus" in kw: m += fv(4, kw["min_gpus"])
    if "max_gpus" in kw: m += fv(5, kw["max_gpus"])
    if "weight" in kw: m += fd(7, kw["weight"])
    for t in kw.get("types", []): m += fb(8, t.encode())
    return fb(10, fb(1, m))

QUEUE = fb(11, b"")

def read_varint(b, i):
    shift = v = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        tag, i = read_varint(b, i)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = read_varint(b, i)
        elif wt == 1:
            v = b[i:i + 8]; i += 8
        elif wt == 2:
            n, i = read_varint(b, i)
            v = b[i:i + n]; i += n
        else:
            raise ValueError("wire type %d" % wt)
        out.append((num, v))
    return out

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        c = s.recv(n - len(data))
        if not c:
            return None
        data += c
    return data

def recv(s, timeout=3.0):
    """One FromDaemon as (case, body), or None at EOF."""
    s.settimeout(timeout)
    h = recv_exact(s, 4)
    if h is None:
        return None
    p = recv_exact(s, struct.unpack(">I", h)[0])
    (case, body), = fields(p)
    return case, body

def error_of(body):
    f = dict(fields(body))
    code = f.get(1, 0)
    if code >= 1 << 63: code -= 1 << 64
    return code, f.get(2, b"").decode()

def check(name, ok, detail=""):
    global bad
    print(("ok: " if ok else "FAIL: ") + name + (": " + detail if detail else ""))
    if not ok: bad += 1

def expect_error(name, s, code, text, then_eof=True):
    r = recv(s)
    if r is None or r[0] != 15:
        return check(name, False, "no Error reply (got %r)" % (r,))
    c, msg = error_of(r[1])
    if c != code or text not in msg:
        return check(name, False, "Error %d '%s', want %d with '%s'" % (c, msg, code, text))
    if then_eof:
        try:
            eof = recv(s, 3.0) is None
        except socket.timeout:
            eof = False
        if not eof:
            return check(name, False, "connection not closed after the Error")
    check(name, True, msg)

def client():
    s = socket.socket(socket.AF_UNIX); s.connect(sock_path); return s

def agent():
    return socket.create_connection(("127.0.0.1", port))

def client_session():
    s = client(); s.sendall(frame(hello(2)))
    r = recv(s)
    assert r and r[0] == 2, r
    return s

# Malformed frames.
s = client_session(); s.sendall(frame(b"\x08"))
expect_error("undecodable frame", s, ERR_PROTO, "malformed frame")
s = client_session(); s.sendall(frame(b""))
expect_error("empty envelope", s, ERR_PROTO, "malformed frame")
s = client_session(); s.sendall(frame(fb(99, b"x")))
expect_error("unknown field only", s, ERR_PROTO, "malformed frame")
s = client_session(); s.sendall(frame(fb(10, b"")))
expect_error("submit without its required spec", s, ERR_PROTO, "malformed frame")
s = client_session(); s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"xxxx")
expect_error("oversized frame header", s, ERR_FRAME_TOO_BIG, "larger than max_frame (131072")
# Before hello a peer may send 64 KiB frames at most; after it, max_frame.
s = client(); s.sendall(struct.pack(">I", 100000) + b"xxxx")
expect_error("large frame before hello", s, ERR_FRAME_TOO_BIG, "larger than 65536 bytes before hello")
a = socket.create_connection(("127.0.0.1", port)); a.sendall(struct.pack(">I", 100000) + b"xxxx")
expect_error("large frame before authentication", a, ERR_FRAME_TOO_BIG,
             "larger than 65536 bytes before hello and authentication")
s = client_session(); s.sendall(frame(b"\x08" * 100000))
expect_error("large frame after hello is read (and is malformed)", s, ERR_PROTO, "malformed frame")
s = client(); s.sendall(frame(hello(99)))
expect_error("unknown role", s, ERR_PROTO, "unknown role 99")
s = client(); s.sendall(frame(spec()))
expect_error("submit before hello", s, ERR_PROTO, "unexpected Submit before hello")
s = client(); s.sendall(frame(hello(2, version=7)))
expect_error("wrong protocol version", s, ERR_PROTO, "protocol version 7 not supported")
s = client(); s.sendall(frame(hello(1, node="n1")))
expect_error("agent hello on the client socket", s, ERR_PROTO, "for clients")
s = client_session(); s.sendall(frame(hello(2)))
expect_error("second hello", s, ERR_PROTO, "unexpected Hello")

# Bad job specs: an Error each, and the session goes on.
s = client_session()
cases = [
    ("0 GPUs", spec(tasks=0), ERR_BAD_SPEC, "gpus must be between 1 and 64, got 0"),
    ("unknown model", spec(model="gpt9"), ERR_UNKNOWN_MODEL, "unknown model 'gpt9'"),
    ("unknown GPU type", spec(types=["Z9000"]), ERR_UNKNOWN_GPU, "unknown GPU type 'Z9000'"),
    ("0 rounds", spec(rounds=0), ERR_BAD_SPEC, "rounds must be between 1"),
    ("min > max", spec(tasks=4, min_gpus=3, max_gpus=2), ERR_BAD_SPEC, "min_gpus must be"),
    ("negative weight", spec(weight=-1.0), ERR_BAD_SPEC, "weight must be"),
    ("NaN weight", spec(weight=float("nan")), ERR_BAD_SPEC, "weight must be"),
]
for name, msg, code, text in cases:
    s.sendall(frame(msg))
    expect_error("bad spec: " + name, s, code, text, then_eof=False)
s.sendall(frame(QUEUE))
r = recv(s)
check("queue on the same session after bad specs", r is not None and r[0] == 11)
s.sendall(frame(spec(model="resnet18", tasks=1, rounds=5)))
r = recv(s)
check("good submit on the same session", r is not None and r[0] == 10)

# Agents: wrong key, wrong role, then a real session with nonsense reports.
a = agent(); a.sendall(frame(hello(1, node="evil")))
r = recv(a)
check("challenge", r is not None and r[0] == 1 and len(dict(fields(r[1]))[1]) == 32)
a.sendall(frame(fb(2, fb(1, b"\0" * 32))))
expect_error("agent with a wrong key", a, EACCES, "authentication failed for node evil")
a = agent(); a.sendall(frame(hello(2)))
expect_error("client hello on the agent port", a, ERR_PROTO, "for agents")
a = agent(); a.sendall(frame(hello(1, node="")))
expect_error("agent without a node name", a, ERR_PROTO, "node name")
# A GPU type name with a terminal's escape sequence is refused, not logged.
a = agent(); a.sendall(frame(hello(1, node="esc")))
nonce = dict(fields(recv(a)[1]))[1]
a.sendall(frame(fb(2, fb(1, hmac.new(key, nonce + b"esc", hashlib.sha256).digest()))))
r = recv(a)
a.sendall(frame(fb(3, fb(1, fv(1, 0) + fb(2, b"V100\x1b]0;owned\x07")))))
expect_error("a GPU type name with an escape sequence", a, ERR_PROTO,
             "GPU 0: its type name may hold only A-Z a-z 0-9 . _ + -")

a = agent(); a.sendall(frame(hello(1, node="good")))
nonce = dict(fields(recv(a)[1]))[1]
mac = hmac.new(key, nonce + b"good", hashlib.sha256).digest()
a.sendall(frame(fb(2, fb(1, mac))))
r = recv(a)
check("agent with the right key is welcomed", r is not None and r[0] == 2)
gpu = lambda i, t: fb(1, fv(1, i) + fb(2, t.encode()))
# A GPU of a type the profile does not know is listed but never used, so
# this agent is sent no work: only a ProfileRequest to measure the type
# (Register.measures: it answers them).
a.sendall(frame(fb(3, gpu(0, "Z9000") + fv(4, 1))))
r = recv(a)
check("an unknown GPU type is to be measured (ProfileRequest)",
      r is not None and r[0] == 6 and dict(fields(r[1])).get(1) == b"Z9000", "got %r" % (r,))
report = fv(1, 999) + fv(2, 5) + fv(3, 0) + fv(4, 0) + fv(5, 3) + fd(6, 1.0) + fd(7, 0.1)
a.sendall(frame(fb(5, report)))
a.sendall(frame(fb(6, fv(1, 999) + fv(2, 5) + fv(3, 0) + fv(4, 2))))
a.sendall(frame(fb(4, b"")))
try:
    r = recv(a, 0.7)
    check("reports for unknown jobs are ignored", False, "got %r" % (r,))
except socket.timeout:
    check("reports for unknown jobs are ignored (session stays open)", True)
a.sendall(frame(fb(2, fb(1, mac))))
expect_error("auth again in a session", a, ERR_PROTO, "unexpected Auth")

# Remote clients over TCP need the token.
t = socket.create_connection(("127.0.0.1", cport)); t.sendall(frame(hello(2)))
expect_error("TCP client without a token", t, EACCES, "wrong or missing client token")
t = socket.create_connection(("127.0.0.1", cport)); t.sendall(frame(hello(2, token=token + "x")))
expect_error("TCP client with a wrong token", t, EACCES, "wrong or missing client token")
t = socket.create_connection(("127.0.0.1", cport)); t.sendall(frame(hello(2, token=token)))
r = recv(t)
check("TCP client with the token is welcomed", r is not None and r[0] == 2)
t.sendall(frame(QUEUE))
r = recv(t)
check("TCP client gets the queue", r is not None and r[0] == 11)

# Half a frame, then gone; many abrupt closes.
s = client(); s.sendall(struct.pack(">I", 100) + b"0123456789"); s.close()
for _ in range(50):
    s = client(); s.sendall(b"\0\0"); s.close()
# Random and mutated frames on both listeners (seeded, so a failure can be
# replayed): the daemon must answer each with an Error or keep going.
import random
rng = random.Random(1234)
seeds = [spec(), spec(model="lm", tasks=4, min_gpus=2, types=["V100"]), QUEUE,
         fb(12, fv(1, 1)), fb(13, fv(1, 1) + fv(1, 2)), fb(14, b"")]
for i in range(300):
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 4)):
        if data and rng.random() < 0.7:
            data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data[rng.randrange(len(data) + 1):0] = bytes([rng.randrange(256)])
    if i % 3 == 0:
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    s = client_session() if i % 2 == 0 else agent()
    try:
        s.sendall(frame(bytes(data)))
        s.settimeout(1.0)
        s.recv(4096)
    except (socket.timeout, ConnectionError):
        pass
    s.close()
s = client_session(); s.sendall(frame(QUEUE))
r = recv(s)
check("daemon still answers after 300 random and mutated frames", r is not None and r[0] == 11)

# At most 16 peers of one address wait for their hello at once on a TCP
# port, 256 in all on each listener: the next is told so and closed while
# other addresses still get in (an agent can register past a stranger);
# peers that said hello are not held back, the unix socket's clients are not
# shut out by the agent port's strangers (nor root by anyone), and the room
# comes back. 127.0.0.0/8 is all loopback: each address is another peer.
def agent_from(n):
    return socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.%d" % n, 0))

EBUSY = -16
silent = [agent_from(2) for _ in range(16)]
time.sleep(0.3)
expect_error("peer 17 of one address without a hello on the agent port is turned away",
             agent_from(2), EBUSY, "too many connections to hared from your address (16) are "
             "waiting to say hello")
a = agent_from(30); a.sendall(frame(hello(1, node="late")))
r = recv(a)
ok = r is not None and r[0] == 1
check("an agent from another address is challenged meanwhile", ok, "" if ok else "got %r" % (r,))
a.close()
for n in range(3, 3 + 15):
    silent += [agent_from(n) for _ in range(16)]
time.sleep(0.3)
expect_error("peer 257 without a hello on the agent port is turned away", agent_from(40), EBUSY,
             "too many connections to hared are waiting to say hello")
try:
    s = client_session(); s.sendall(frame(QUEUE)); r = recv(s)
    check("a unix client is let in while 256 agent-port peers wait", r is not None and r[0] == 11)
except (AssertionError, ConnectionError, socket.timeout) as e:
    check("a unix client is let in while 256 agent-port peers wait", False, repr(e))
for x in silent:
    x.close()
time.sleep(0.3)
s = client_session(); s.sendall(frame(QUEUE))
r = recv(s)
check("room again once they are gone", r is not None and r[0] == 11)

# Clients that pipeline requests and never read their replies: past
# max_queued_mib (16 here) for all of them, the one with the most queued is
# closed; a client that reads is still answered.
hogs = [client_session() for _ in range(3)]
for h in hogs:
    h.setblocking(False)
burst = frame(QUEUE) * 2000
closed = set()
end = time.time() + 20
while time.time() < end and not closed:
    for n, h in enumerate(hogs):
        try:
            h.send(burst)
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed.add(n)
check("a client that never reads is closed past max_queued_mib", bool(closed),
      "%d of 3 closed" % len(closed))
for h in hogs:
    h.close()
s = client_session(); s.sendall(frame(QUEUE))
r = recv(s)
check("a client that reads is answered meanwhile", r is not None and r[0] == 11)
sys.exit(1 if bad else 0)
PY

export HARE_SOCKET="$tmp/hared.sock"
if [ -x "$harectl" ]; then
	# refused LABEL RC TEXT ARGS...: harectl ARGS exits RC ("any": not 0)
	# and prints TEXT
	refused() {
		local label=$1 want=$2 text=$3 out rc ok
		shift 3
		out=$("$harectl" "$@" 2>&1)
		rc=$?
		case $want in any) ok=$((rc != 0)) ;; *) ok=$((rc == want)) ;; esac
		if [ $ok = 1 ] && echo "$out" | grep -q "$text"; then
			echo "ok: harectl $label: $out"
		else
			fail "harectl $label: rc=$rc '$out'"
		fi
	}
	refused "unknown model" any "unknown model 'nosuch'" submit --model nosuch --gpus 2 --rounds 10
	refused "unknown GPU type" any "unknown GPU type 'Q7'" \
		submit --model resnet50 --gpus 2 --rounds 10 --gpu-types Q7
	# Z9000: a node registered it, not in the profile
	refused "type a node has, not profiled" 1 "GPU type 'Z9000' is not profiled yet: node good has it" \
		submit --model resnet50 --gpus 2 --rounds 10 --gpu-types Z9000
	out=$("$harectl" submit --model resnet50 --gpus 0 --rounds 10 2>&1)
	[ $? -ne 0 ] && echo "$out" | grep -q "between 1 and 64, got 0" \
		&& echo "ok: harectl 0 GPUs: $out" || fail "harectl 0 GPUs: '$out'"
	if "$harectl" queue --all >"$tmp/queue" 2>&1 && grep -q resnet18 "$tmp/queue"; then
		echo "ok: harectl queue after all that"
	else
		fail "harectl queue: $(cat "$tmp/queue")"
	fi
else
	echo "note: harectl not built; CLI checks skipped"
fi

# Over TCP, a token of client_users_file acts as its user, the shared one
# as "remote": each owns the jobs it submits, and may not cancel the other's.
if [ -x "$harectl" ]; then
	tcp() { local tok=$1; shift; HARE_SOCKET= "$harectl" --host "127.0.0.1:$cport" --token-file "$tok" "$@"; }
	ja=$(tcp "$tmp/alice.token" submit --model resnet50 --gpus 1 --rounds 10 --name by-alice)
	jr=$(tcp "$tmp/token" submit --model resnet50 --gpus 1 --rounds 10 --name by-remote)
	ua=$("$harectl" show "$ja" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("user"))')
	ur=$("$harectl" show "$jr" -o json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("user"))')
	if [ "$ua" = alice ] && [ "$ur" = remote ] && ! tcp "$tmp/token" cancel "$ja" >/dev/null 2>&1 &&
		tcp "$tmp/alice.token" cancel "$ja" >/dev/null; then
		echo "ok: over TCP alice's token acts as alice (job $ja), the shared one as remote (job $jr); remote cannot cancel alice's job, she can"
	else
		fail "client_users_file: job $ja of '$ua', job $jr of '$ur'"
	fi
fi

# A second hared on the same state_dir (other listeners) is refused: it
# would requeue the first one's running jobs and write over its state.
sed -e "s#$tmp/hared.sock#$tmp/second.sock#" -e "s#$tmp/ports#$tmp/ports2#" \
	"$tmp/hared.conf" >"$tmp/second.conf"
out=$(timeout 10 "$hared" --config "$tmp/second.conf" 2>&1)
rc=$?
case "$rc:$out" in
1:*"state_dir $tmp/state is in use by another hared (pid $hpid): stop it first"*)
	echo "ok: a second hared on the same state_dir is refused: ${out##*hared: }" ;;
*) fail "second hared: rc=$rc '$out'" ;;
esac
[ -e "$tmp/second.sock" ] && fail "the refused hared left its socket"

kill -0 "$hpid" 2>/dev/null || fail "hared died"
kill -TERM "$hpid"
wait "$hpid"
rc=$?
[ $rc -eq 0 ] && echo "ok: hared exits 0 on SIGTERM" || fail "hared exit status $rc on SIGTERM"
[ -e "$tmp/hared.sock" ] && fail "client socket left behind"
grep -q "round report job=999" "$tmp/hared.log" || fail "no debug line for the unknown report"
grep -q "queued for all peers (max_queued_mib 16); closing this one" "$tmp/hared.log" ||
	fail "no warning for the clients that did not read"
# Under ASan/UBSan builds the daemon reports memory errors and leaks here.
grep -qE "Sanitizer|runtime error" "$tmp/hared.log" && fail "sanitizer report in the hared log"
if [ $failures -ne 0 ]; then
	echo "--- hared log (tail)"; tail -40 "$tmp/hared.log"
	exit 1
fi
echo "all bad-input checks passed"
