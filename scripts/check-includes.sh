#!/bin/sh
# scripts/check-includes.sh: dependencies flow one way (STYLE.md, Tor's
# .may_include): rules/ sees its own headers and filters/fact.h; filters/
# sees its own headers, proxy/dns.h, proxy/util.h and the policy language's
# public headers (rules/conf.h, rules.h, template.h), never the session.
# proxy/ may include everything. Prints each violation; exit 1 if any.
cd "$(dirname "$0")/.." || exit 2

# check DIR EXTRA... : DIR's files may include DIR's own headers and EXTRA
check() {
	dir=$1
	shift
	for f in "$dir"/*.c "$dir"/*.h; do
		[ -e "$f" ] || continue
		grep -n '^#include "' "$f" | while IFS=: read -r n rest; do
			inc=$(printf '%s' "$rest" | sed 's/.*#include "\([^"]*\)".*/\1/')
			[ -e "$dir/$inc" ] && continue
			ok=0
			for x in "$@"; do [ "$inc" = "$x" ] && ok=1; done
			[ $ok -eq 1 ] || echo "$f:$n: $dir/ may not include \"$inc\""
		done
	done
}

out=$(check rules fact.h; check filters dns.h dns_msg.h util.h conf.h template.h rules.h lmdbenv.h set.h)
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "include layering OK"
