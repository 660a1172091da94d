#!/bin/sh
# scripts/deps.sh: install what sluice needs to build, run and be tested,
# from Debian 12 packages only. Safe to run again. Needs root.
set -eu

BUILD="meson ninja-build pkg-config gcc libc6-dev libevent-dev libssl-dev libc-ares-dev libspf2-dev liblmdb-dev"
TEST="python3 swaks postfix dovecot-core postgrey lmdb-utils rbldnsd dnsmasq-base clang libclang-rt-14-dev openssl iproute2 util-linux procps"

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: run as root (apt-get)" >&2
	exit 1
fi

missing=""
for p in $BUILD $TEST; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix is the test backend: install it unconfigured and stopped; the
# test harness and the quick start run private instances of their own.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
if command -v postfix >/dev/null 2>&1 && [ ! -f /etc/postfix/main.cf ]; then
	# "No configuration" leaves no main.cf; postfix -c needs a stock one to copy from
	cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf 2>/dev/null || true
fi
case " $missing " in
*" dovecot-core "*)
	# Dovecot is the tests' SASL backend for Postfix: the harness runs
	# private auth-only instances (-c its own config, own base_dir). The
	# package enables (and, where it may, starts) a system dovecot: stop and
	# disable it, whatever the init system, and ignore what isn't there.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl stop dovecot.service dovecot.socket >/dev/null 2>&1 || true
		systemctl disable dovecot.service dovecot.socket >/dev/null 2>&1 || true
	fi
	if command -v invoke-rc.d >/dev/null 2>&1; then
		invoke-rc.d dovecot stop >/dev/null 2>&1 || true
	elif command -v service >/dev/null 2>&1; then
		service dovecot stop >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d dovecot disable >/dev/null 2>&1 || true
	fi
	# still running (no init system, or policy-rc.d refused the stop)?
	if [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null; then
		doveadm stop >/dev/null 2>&1 || true
	fi
	;;
esac
case " $missing " in
*" postgrey "*)
	# postgrey is the policy-server tests' greylister: they run their own on
	# a loopback port. The package's service is not wanted.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl stop postgrey.service >/dev/null 2>&1 || true
		systemctl disable postgrey.service >/dev/null 2>&1 || true
	fi
	if command -v invoke-rc.d >/dev/null 2>&1; then
		invoke-rc.d postgrey stop >/dev/null 2>&1 || true
	fi
	if command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d postgrey disable >/dev/null 2>&1 || true
	fi
	;;
esac
echo "deps.sh: installed:$missing"
