#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make install into a temporary prefix: the programs, the profiles, cluster
# files, traces, docs, example configurations and systemd units land where
# README.md says, and the installed programs run from there (hare-sim on
# the installed profiles and cluster file, also from outside the source
# tree without --profiles, hared --check-config on the
# example configuration, with its state_dir and client_socket in a
# temporary folder: /run/hare need not exist here; it sets no profiles, so
# hared finds the installed ones).
# Usage: install.sh BUILD_DIR SOURCE_DIR
set -u
build=$(cd "${1:?build dir}" && pwd)
src=$(cd "${2:?source dir}" && pwd)
command -v cmake >/dev/null || { echo "skip: no cmake"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
p="$tmp/prefix"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

cmake --install "$build" --prefix "$p" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
for f in bin/hared bin/hare-agent bin/harectl bin/hare-worker bin/hare-sim \
	share/hare/profiles/models.csv share/hare/profiles/throughput.csv \
	share/hare/profiles/PROVENANCE.md share/hare/clusters/paper-200.ini \
	share/hare/traces/philly.csv share/hare/traces/PROVENANCE.md \
	share/doc/hare/README.md share/doc/hare/hared.md share/doc/hare/sim.md \
	share/doc/hare/examples/hared.conf.example share/doc/hare/examples/agent.conf.example \
	share/doc/hare/examples/hare-health.example share/doc/hare/examples/hare-prolog.example \
	share/doc/hare/examples/hare-epilog.example \
	lib/systemd/system/hared.service lib/systemd/system/hare-agent.service \
	share/bash-completion/completions/harectl; do
	[ -s "$p/$f" ] || fail "$f not installed"
done
grep -q "^# Hare" "$p/share/doc/hare/README.md" || fail "README.md is not the project's"
# nothing of the build machine's paths outside the prefix was written
grep -v "^-- Installing: $p/\|^-- Up-to-date: $p/\|^-- Install configuration" "$tmp/install.log" |
	grep -q "Installing" && fail "installed outside the prefix: $(grep Installing "$tmp/install.log" | grep -v "$p/")"
[ $failures -eq 0 ] && echo "ok: $(find "$p" -type f | wc -l) files installed under the prefix"

# the units start the programs where this install put them (--prefix at
# install time, not only the configured one), and name its docs
grep -q "^ExecStart=$p/bin/hared " "$p/lib/systemd/system/hared.service" &&
	grep -q "^ExecStart=$p/bin/hare-agent " "$p/lib/systemd/system/hare-agent.service" &&
	grep -q "^Documentation=file://$p/share/doc/hare/agent.md$" "$p/lib/systemd/system/hare-agent.service" &&
	[ -f "$p/share/doc/hare/agent.md" ] &&
	echo "ok: the installed units start $p/bin/hared and hare-agent" ||
	fail "units: $(grep -h "ExecStart\|Documentation" "$p"/lib/systemd/system/*.service)"

# every program says its version
ver=$(sed -n 's/^project(hare VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
for b in hared hare-agent harectl hare-worker hare-sim; do
	out=$("$p/bin/$b" --version 2>&1)
	case "$out" in "$b $ver"*) ;; *) fail "$b --version: '$out' (want '$b $ver ...')" ;; esac
done
[ $failures -eq 0 ] && echo "ok: each installed program's --version says $ver"

# the installed simulator on the installed data
if out=$("$p/bin/hare-sim" --cluster "$p/share/hare/clusters/tiny-8.ini" --profiles \
	"$p/share/hare/profiles" --generate jobs=20,seed=1 --policies hare 2>&1); then
	echo "ok: installed hare-sim runs on the installed profiles and cluster file"
else
	fail "installed hare-sim: $out"
fi
# without --profiles, from outside the source tree: the profiles beside its
# bin/, not the source tree's (which an installed hare-sim must not need)
if out=$(cd "$tmp" && "$p/bin/hare-sim" --cluster "$p/share/hare/clusters/tiny-8.ini" \
	--generate jobs=20,seed=1 --policies hare 2>&1); then
	echo "ok: installed hare-sim runs without --profiles"
else
	fail "installed hare-sim without --profiles: $out"
fi
out=$(cd "$tmp" && "$p/bin/hare-sim" --help 2>&1)
case "$out" in
*"--profiles DIR "*"(default: $p/bin/../share/hare/profiles)"*)
	echo "ok: installed hare-sim's default profiles are the installed ones" ;;
*) fail "installed hare-sim --help: $(grep -F -- --profiles <<<"$out")" ;;
esac
# the example configuration with its paths pointed into the prefix; it
# leaves profiles to hared's default
head -c 48 /dev/urandom | base64 -w0 >"$tmp/key"
chmod 600 "$tmp/key"
grep -q "^profiles" "$p/share/doc/hare/examples/hared.conf.example" &&
	fail "hared.conf.example sets profiles, overriding hared's default"
sed -e "s#^state_dir = .*#state_dir = $tmp/state#" \
	-e "s#^client_socket = .*#client_socket = $tmp/hared.sock#" \
	-e "s#^cluster_key_file = .*#cluster_key_file = $tmp/key#" \
	-e "s#^client_token_file = .*#client_token_file = $tmp/key#" \
	"$p/share/doc/hare/examples/hared.conf.example" >"$tmp/hared.conf"
# (hared installed under a prefix other than the configured one finds the
# profiles beside its bin/: the configured prefix may have none)
cfg_prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
if out=$("$p/bin/hared" --config "$tmp/hared.conf" --check-config 2>&1); then
	echo "ok: installed hared accepts the installed example configuration: $out"
	[ -e "$cfg_prefix/share/hare/profiles/models.csv" ] ||
		echo "ok: installed hared finds the profiles beside its bin/"
else
	fail "installed hared --check-config: $out"
fi
[ $failures -eq 0 ] || exit 1
echo "all install checks passed"
