#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# hare-agent's exit status when it cannot start: 2 (which
# hare-agent.service does not restart) when a folder of its configuration
# cannot be made (work_dir, task_logs), 1 when the moment is at fault (its
# work_dir locked by another agent, a full or read-only disk); and, as
# root, hare-agent --exec-as; and --exec-in.
# Usage: agent_start_exit.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "${1:?build dir}" && pwd)
agent="$build/agent/hare-agent"
worker="$build/workloads/hare-worker"
[ -x "$agent" ] && [ -x "$worker" ] || { echo "skip: hare-agent or hare-worker not built"; exit 77; }
tmp=$(mktemp -d)
first=
trap '[ -n "$first" ] && kill "$first" 2>/dev/null; umount "$tmp/mnt" 2>/dev/null; rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
head -c 48 /dev/urandom | base64 -w0 >"$tmp/key"
chmod 600 "$tmp/key"
args=(--daemon 127.0.0.1:1 --node n1 --gpus V100:1 --key-file "$tmp/key" --worker "$worker")

# expect RC WANT ARGS...: the agent exits RC and says WANT.
expect() {
	local want_rc=$1 want=$2 out rc
	shift 2
	out=$(timeout 20 "$agent" "$@" 2>&1)
	rc=$?
	case "$rc:$out" in
	"$want_rc":*"$want"*) echo "ok: exit $rc: $want" ;;
	*) fail "want exit $want_rc and '$want': rc=$rc '$out'" ;;
	esac
}

# /proc takes no new folders, even for root.
expect 2 "work_dir /proc/hare-nope-$$: " "${args[@]}" --work-dir "/proc/hare-nope-$$"
cat >"$tmp/agent.conf" <<CONF
[agent]
daemon = 127.0.0.1:1
node = n1
gpus = V100:1
cluster_key_file = $tmp/key
worker = $worker
work_dir = $tmp/w1
task_logs = /proc/hare-nope-$$/logs
CONF
expect 2 "task_logs /proc/hare-nope-$$/logs: " --config "$tmp/agent.conf"

# A work_dir another agent holds: exit 1, the unit tries again later.
"$agent" "${args[@]}" --work-dir "$tmp/w2" >"$tmp/first.log" 2>&1 &
first=$!
for _ in $(seq 100); do
	[ -s "$tmp/w2/agent.lock" ] && break
	sleep 0.05
done
expect 1 "work_dir $tmp/w2 is in use by another hare-agent (pid $first)" "${args[@]}" --work-dir "$tmp/w2"
kill "$first"
wait "$first"
first=

# A full or read-only disk under work_dir is the moment's fault: exit 1, so
# the unit tries again (root, where tmpfs can be mounted: a small one with
# no inode left, then a read-only one).
mnt="$tmp/mnt"
mkdir "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=64k,nr_inodes=3 hare-test "$mnt" 2>/dev/null; then
	touch "$mnt/a" "$mnt/b" 2>/dev/null
	expect 1 "work_dir $mnt/w: No space left on device" "${args[@]}" --work-dir "$mnt/w"
	umount "$mnt"
	if mount -t tmpfs -o ro,size=64k hare-test "$mnt" 2>/dev/null; then
		expect 1 "work_dir $mnt/w: Read-only file system" "${args[@]}" --work-dir "$mnt/w"
		umount "$mnt"
	fi
else
	echo "skip: the full and read-only disk checks need root and a tmpfs mount"
fi

# --exec-as, the agent's child becoming a job's owner (as root only): the
# account's ids, none of the descriptors it inherited past fd 3, and a
# clear word with 126 or 127 when it cannot.
if [ "$(id -u)" = 0 ]; then
	out=$(exec 5</dev/null; "$agent" --exec-as nobody 65534 65534 /bin/sh -c \
		'echo "$(id -u):$(id -g)"; ls /proc/self/fd | tr "\n" " "' 2>&1)
	case "$out" in
	"65534:65534"*" 5 "*) fail "--exec-as kept fd 5: '$out'" ;;
	"65534:65534"*) echo "ok: --exec-as runs as 65534:65534 without inherited descriptors" ;;
	*) fail "--exec-as nobody: '$out'" ;;
	esac
	expect 127 "cannot run /nonexistent/hare-prog as nobody" --exec-as nobody 65534 65534 /nonexistent/hare-prog
	expect 126 "--exec-as: bad uid or gid 'x'" --exec-as nobody x 65534 /bin/true
else
	echo "skip: --exec-as checks need root"
fi

# --exec-in, the agent's child joining its cgroup before it execs: one it
# cannot join is said, and the program runs all the same (tracked by its
# process group); one it can (root, a cgroup v2 it may write) holds it,
# also on the way to --exec-as.
out=$("$agent" --exec-in "$tmp/no-cgroup" /bin/sh -c 'echo ran' 2>&1); rc=$?
case "$rc:$out" in
0:*"cannot join cgroup $tmp/no-cgroup"*"tracked by its process group only"*ran*)
	echo "ok: --exec-in a folder that is no cgroup: said, and run" ;;
*) fail "--exec-in $tmp/no-cgroup: rc=$rc '$out'" ;;
esac
expect 127 "cannot run /nonexistent/hare-prog" --exec-in "$tmp" /nonexistent/hare-prog
# the file system type follows the "-" that ends the optional fields (none,
# one or more of them)
cg=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") break; if ($(i + 1) == "cgroup2" && $4 == "/") { print $5; exit } }' /proc/self/mountinfo)
own=$(sed -n 's/^0:://p' /proc/self/cgroup)
if [ "$(id -u)" = 0 ] && [ -n "$cg" ] && mkdir "$cg$own/hare-test-exec-in.$$" 2>/dev/null; then
	dir="$cg$own/hare-test-exec-in.$$"
	out=$("$agent" --exec-in "$dir" /bin/sh -c 'sed -n "s/^0:://p" /proc/self/cgroup' 2>&1)
	out2=$("$agent" --exec-in "$dir" --exec-as nobody 65534 65534 /bin/sh -c \
		'echo "$(id -u) $(sed -n "s/^0:://p" /proc/self/cgroup)"' 2>&1)
	out3=$("$agent" --exec-in "$dir" --argv0 /etc/hare/check /bin/sh -c 'echo "$0"' 2>&1)
	rmdir "$dir"
	case "$out|$out2|$out3" in
	*"/hare-test-exec-in.$$|65534 "*"/hare-test-exec-in.$$|/etc/hare/check") echo "ok: --exec-in puts the program in the cgroup, --exec-as too; --argv0 names it" ;;
	*) fail "--exec-in $dir: '$out' '$out2' '$out3'" ;;
	esac
else
	echo "skip: --exec-in into a cgroup needs root and a cgroup v2 it may write"
fi

# Where the cgroup v2 is read-only (a mount namespace of its own, bound
# read-only): cgroup = yes does not start (exit 2, the configuration's
# matter), auto goes on with process groups and says why.
if [ "$(id -u)" = 0 ] && [ -n "$cg" ] && command -v unshare >/dev/null &&
	unshare -m sh -c "mount -o remount,bind,ro $cg" 2>/dev/null; then
	ro() { unshare -m sh -c "mount -o remount,bind,ro $cg && exec \"\$@\"" sh "$@"; }
	out=$(ro timeout 20 "$agent" "${args[@]}" --work-dir "$tmp/w3" --cgroup yes 2>&1); rc=$?
	case "$rc:$out" in
	"2:"*"cgroup = yes, but cannot make $cg"*"Read-only file system"*) echo "ok: exit 2: cgroup = yes without a cgroup it may make" ;;
	*) fail "--cgroup yes on a read-only cgroup2: rc=$rc '$out'" ;;
	esac
	out=$(ro timeout 3 "$agent" "${args[@]}" --work-dir "$tmp/w4" 2>&1)
	case "$out" in
	*"tracks each task's processes by process group only: cannot make $cg"*) echo "ok: cgroup = auto falls back to process groups, saying why" ;;
	*) fail "--cgroup auto on a read-only cgroup2: '$out'" ;;
	esac
else
	echo "skip: the read-only cgroup checks need root, a cgroup v2 and unshare"
fi

[ $failures -eq 0 ] || exit 1
echo "all agent start exit checks passed"
