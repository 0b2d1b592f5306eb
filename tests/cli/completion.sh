#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy/harectl.bash-completion: its commands and each command's options
# are exactly those harectl's --help lists (so the two cannot drift), and
# completing words gives what a user expects: commands, options, option
# values (--state lists), job ids and node names (asked of a stand-in
# harectl that prints a queue, with --all one more job, and a node table).
# Usage: completion.sh BUILD_DIR SOURCE_DIR (exit 77: harectl not built).
set -u

build=${1:?build dir}
src=${2:?source dir}
harectl="$build/cli/harectl"
[ -x "$harectl" ] || { echo "skip: $harectl not built"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# shellcheck source=/dev/null
. "$src/deploy/harectl.bash-completion"
compopt() { :; }	# only inside a real completion

sorted() { tr ' ' '\n' | grep -v '^$' | sort -u | tr '\n' ' '; }

# 1. Commands and options as harectl --help has them.
cmds=$("$harectl" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }' | sorted)
comp=$(echo "$_harectl_commands" | sorted)
[ "$cmds" = "$comp" ] && echo "ok: the commands match harectl --help ($cmds)" ||
	fail "commands: harectl has '$cmds', the completion '$comp'"
for c in $cmds; do
	want=$("$harectl" "$c" --help | grep -oE '^  (-[a-z], )?--[a-z-]+' | grep -oE -- '--[a-z-]+' |
		grep -vxE -- '--(help|socket|host|token-file|no-tls|timeout|version)' | sorted)
	got=$(_harectl_opts "$c" | sorted)
	[ "$want" = "$got" ] || fail "$c: harectl --help has options '$want', the completion '$got'"
done
[ $failures -eq 0 ] && echo "ok: each command's options match its --help"

# 2. Completing words. A stand-in harectl answers queue and nodes.
cat >"$tmp/harectl" <<'STUB'
#!/usr/bin/env bash
for a in "$@"; do
	case "$a" in
	--all) printf 'JOBID  USER  NAME\n11     al    x\n12     al    a\n13     bo    b\nplans: 3\n'; exit 0 ;;
	queue) [ "${*: -1}" = --all ] && continue
		printf 'JOBID  USER  NAME\n12     al    a\n13     bo    b\nplans: 3\n'; exit 0 ;;
	nodes) [ "${*: -1}" = json ] && continue
		printf 'NODE  STATE\nn1    up\nn2    down\nn3    drained\n'; exit 0 ;;
	json) printf '{"nodes":[\n  {"name":"n1","up":true,"drained":false,"gpus":[]},\n'
		printf '  {"name":"n2","up":false,"drained":false,"gpus":[]},\n'
		printf '  {"name":"n3","up":false,"drained":true,"gpus":[]}\n]}\n'; exit 0 ;;
	esac
done
exit 1
STUB
chmod +x "$tmp/harectl"
complete_line() {	# complete_line WORD...: the last word is completed
	COMP_WORDS=("$tmp/harectl" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_harectl
	echo "${COMPREPLY[*]}"
}
check() {	# check WANT WORD...
	local want=$1 got
	shift
	got=$(complete_line "$@")
	[ "$got" = "$want" ] || fail "harectl $*<TAB>: '$got', want '$want'"
}
check "hold" ho
check "show" --socket /x sh
check "--state" queue --st
check "running" queue --state run
check "held,running" queue --state held,ru
check "running,queued running,waiting running,held running,done running,cancelled running,failed" queue --state running,
check "waiting" queue --state wa
check "" submit --after ""
check "json" queue -o j
check "--weight" update 12 --w
check "11 12 13" show ""
check "12 13" cancel ""
check "12 13" --host h:1 hold 1
check "n1 n2 n3" drain ""
check "n2 n3" forget ""
check "--rank" logs -f 12 --r
check "" submit --model ""
check "update" help up
check "hold history help" h
check "11 12 13" history ""
check "11 12 13" logs ""
check "--lines" history 12 --l
[ $failures -eq 0 ] && echo "ok: commands, options, --state lists, job ids and node names complete"

if [ $failures -ne 0 ]; then
	exit 1
fi
echo "all completion checks passed"
