#!/bin/sh
# bench/policy_bench.sh - msgs/s with sluice's default policy (rdns + helo + dnsbl + spf +
# rules/default.rules, warm cache) against the plain proxy and the direct path.
#   bench/policy_bench.sh [-m 20000 -s 20 -l 2048 -n 7] [--perf 8] [--strace] [options]
#   python3 bench/policy_bench.py --help        # every option
# Needs root (unshare -n), postfix's smtp-source/smtp-sink, rbldnsd, dnsmasq (dnsmasq-base),
# python3, and a release build in build-bench/ (built here if missing). --perf needs perf,
# --strace needs strace. Results: bench/results/policy-TIME/ (see bench/POLICY-RESULTS.md).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -z "${SLUICE_BIN:-}" ]; then
    [ -d "$ROOT/build-bench" ] || meson setup "$ROOT/build-bench" "$ROOT" --buildtype=release
    ninja -C "$ROOT/build-bench" proxy/sluice >/dev/null
fi
BIN=${SLUICE_BIN:-$ROOT/build-bench/proxy/sluice}
exec python3 "$HERE/policy_bench.py" --sluice "$BIN" "$@"
