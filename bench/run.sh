#!/bin/sh
# bench/run.sh - entry point for the sluice benchmark (see bench/README.md).
#   bench/run.sh run  [-m 20000 -s 20 -l 2048 -n 3] [options]
#   bench/run.sh idle [-c 5000] [options]
#   bench/run.sh dnsbl [-m 20000 -s 20 -l 2048 -n 5] [options]   # DNSBL lookups: plain/warm/cold cache
#   bench/run.sh tls  [-m 6000 -s 20 -l 2048 -n 5] [options]    # plaintext vs STARTTLS vs implicit TLS
#   bench/run.sh all                 # run and idle, with the defaults
# Needs root (unshare -n), postfix's smtp-source/smtp-sink, python3, and a
# release build in build-bench/ (built here if missing); dnsbl also needs
# rbldnsd (/usr/sbin/rbldnsd, Debian package rbldnsd); tls also needs openssl, cc
# and libssl-dev: its load client, bench/tls_load.c, is compiled here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# idle sessions need ~2 fds each in sluice (client + backend); raise the limit as far as allowed
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ -z "${SLUICE_BIN:-}" ]; then
    # always rebuild: a stale binary would measure yesterday's code
    [ -d "$ROOT/build-bench" ] || meson setup "$ROOT/build-bench" "$ROOT" --buildtype=release
    ninja -C "$ROOT/build-bench" proxy/sluice >/dev/null
fi
BIN=${SLUICE_BIN:-$ROOT/build-bench/proxy/sluice}
if [ "${1:-}" = tls ]; then
    # the TLS load client (smtp-source has no TLS), rebuilt every time like sluice
    mkdir -p "$ROOT/build-bench"
    cc -O2 -Wall -o "$ROOT/build-bench/tls_load" "$HERE/tls_load.c" -lssl -lcrypto
fi
if [ "${1:-}" = all ]; then
    shift
    python3 "$HERE/smtp_bench.py" --sluice "$BIN" run "$@"
    exec python3 "$HERE/smtp_bench.py" --sluice "$BIN" idle
fi
exec python3 "$HERE/smtp_bench.py" --sluice "$BIN" "$@"
