#!/bin/sh
# fuzz-run.sh BINARY SEEDDIR [SECONDS] - run one libFuzzer target from its
# committed seed corpus for a set time (new inputs go to a scratch dir, the
# repository is never written). Prints executions and fails on a crash.
set -u
bin=$1 seeds=$2 secs=${3:-${CT_FUZZ_SECONDS:-10}}
[ -n "$secs" ] || secs=10
work=$(mktemp -d /tmp/ctfuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
name=$(basename "$bin")
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work" "$seeds" >"$work/log" 2>&1
rc=$?
runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
echo "fuzz $name: ${runs:-0} executions in ${secs}s, exit $rc"
if [ $rc != 0 ]; then
	tail -n 60 "$work/log"
	for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
		[ -f "$a" ] && { echo "reproducer ($a):"; od -c "$a" | head -20; }
	done
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
