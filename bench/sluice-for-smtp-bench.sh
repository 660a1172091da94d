#!/bin/sh
# bench/sluice-for-smtp-bench.sh - adapter for an external smtp-bench style harness whose
# proxy template substitutes {listen_port} {backend_port} {out_dir}:
#   smtp-bench run -p '/path/to/bench/sluice-for-smtp-bench.sh {listen_port} {backend_port} {out_dir}'
# Writes a sluice config for the two ports and execs sluice in the foreground
# (same config as bench/smtp_bench.py).  SLUICE_BIN overrides the binary.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 LISTEN_PORT BACKEND_PORT [DIR]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SLUICE_BIN:-$ROOT/build-bench/proxy/sluice}
DIR=${3:-${TMPDIR:-/tmp}}
CONF=$DIR/sluice-$1.conf
cat >"$CONF" <<EOC
hostname bench.sluice.test
listen 127.0.0.1:$1
backend 127.0.0.1:$2
xclient ${SLUICE_XCLIENT:-on}
log_level ${SLUICE_LOG_LEVEL:-notice}
decision_log off
workers ${SLUICE_WORKERS:-auto}
limit sessions 20000
limit sessions_per_ip 20000
EOC
exec "$BIN" -c "$CONF"
