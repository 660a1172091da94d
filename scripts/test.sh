#!/bin/bash
# scripts/test.sh: install, build and run the whole test suite, twice:
# a -Werror build, then an ASan/UBSan build. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
# every integration case must run here: Postfix missing is a failure, not a skip
export SLUICE_TESTS_STRICT=1

# count - add the totals of one "meson test" run to passed/failed
count() {
	local log=$1 ok fail to up skip
	ok=$(grep -E '^Ok:' "$log" | awk '{s+=$2} END {print s+0}')
	fail=$(grep -E '^Fail:' "$log" | awk '{s+=$2} END {print s+0}')
	to=$(grep -E '^Timeout:' "$log" | awk '{s+=$2} END {print s+0}')
	up=$(grep -E '^Unexpected Pass:' "$log" | awk '{s+=$3} END {print s+0}')
	skip=$(grep -E '^Skipped:' "$log" | awk '{s+=$2} END {print s+0}')
	passed=$((passed + ok))
	failed=$((failed + fail + to + up + skip)) # a test that did not run did not pass
}

# run - configure, build and test one build directory
run() {
	local dir=$1
	shift
	local log="$dir.test.log"
	# --reconfigure on an existing build tree: new test files are found at configure time
	# (a directory left by a failed first setup has no coredata: set it up anew)
	if [ -f "$dir/meson-private/coredata.dat" ]; then set -- --reconfigure "$@"; else rm -rf "$dir"; fi
	meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		cat "$dir.build.log"
		failed=$((failed + 1))
		return
	fi
	meson test -C "$dir" --print-errorlogs --no-rebuild \
		--suite unit --suite fuzz --suite integration 2>&1 | tee "$log"
	count "$log"
}

run build-ci -Dwerror=true -Dbuildtype=debugoptimized -Dpostfix_tests=enabled
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Dpostfix_tests=enabled

# fuzz - a clang/libFuzzer build: replay the corpus, then fuzz each target
# briefly (a fresh look every run; a crash fails the run)
fuzz() {
	local dir=build-fuzz
	if [ ! -d "$dir" ]; then
		CC=clang meson setup "$dir" -Dfuzzing_engine=libfuzzer -Db_sanitize=address,undefined \
			-Db_lundef=false -Dbuildtype=debugoptimized >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; failed=$((failed + 1)); return; }
	fi
	if ! ninja -C "$dir" tests/fuzz/fuzz_smtp_cmd tests/fuzz/fuzz_smtp_reply \
		tests/fuzz/fuzz_smtp_data tests/fuzz/fuzz_conf tests/fuzz/fuzz_dns_msg \
		tests/fuzz/fuzz_dnsbl_spec tests/fuzz/fuzz_mailhdr tests/fuzz/fuzz_template tests/fuzz/fuzz_sasl tests/fuzz/fuzz_senders tests/fuzz/fuzz_rules tests/fuzz/fuzz_helo_check tests/fuzz/fuzz_policy >"$dir.build.log" 2>&1; then
		cat "$dir.build.log"
		failed=$((failed + 1))
		return
	fi
	for t in smtp_cmd smtp_reply smtp_data conf dns_msg dnsbl_spec mailhdr template sasl senders rules helo_check policy; do
		local work
		work=$(mktemp -d)
		if UBSAN_OPTIONS=halt_on_error=1 "$dir/tests/fuzz/fuzz_$t" -max_total_time="${FUZZ_SECONDS:-20}" \
			-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/" "$work" "tests/fuzz/corpus/$t" \
			>"$dir.$t.log" 2>&1; then
			echo "fuzz session $t: OK ($(grep -c . "$dir.$t.log") log lines)"
			passed=$((passed + 1))
		else
			echo "fuzz session $t: FAILED"
			tail -40 "$dir.$t.log"
			ls "$work"/crash-* "$work"/leak-* 2>/dev/null
			failed=$((failed + 1))
		fi
		rm -rf "$work"
	done
}
fuzz

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
