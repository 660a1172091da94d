#!/bin/sh
# scripts/quickstart.sh: install, build, and run sluice on its example
# configuration (etc/sluice.conf, 127.0.0.1:2525) in front of a private
# Postfix on 127.0.0.1:10025. Needs root (apt-get, Postfix). Ctrl-C stops.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
./build/proxy/sluice -t -c etc/sluice.conf
exec python3 contrib/demo/run-demo.py
