#!/bin/bash
# soak.sh BUILD_DIR [SECONDS] | --report BUILD_DIR - mixed load over 2,000 connections for
# SECONDS (default 600) against a private stack, sampling the RSS and open
# fds of crosstalk-wsd and crosstalk-fcgi every 10 s. Not part of ctest.
#
# Load, all bounded in time:
#   - ctbench (bench/ctbench.c) holds 2,000 authenticated WebSocket
#     subscribers over 20 channels and 4 WebSocket publishers sending
#     SOAK_RATE messages/s (default 50) in all; it is restarted every 240 s
#     (its own limit is 300 s), so all 2,000 sockets reconnect;
#   - test/fault/soak_mix.py churns short WebSocket sessions (auth, subscribe with
#     replay, publish, typing, presence, history, close), HTTP long-polls and
#     HTTP posts through nginx -> crosstalk-fcgi next to it.
# Results: BUILD_DIR/soak/samples.csv (t_s,wsd_rss_kb,wsd_fds,fcgi_rss_kb,
# fcgi_fds,wsd_conns), ctbench.txt, mix.txt and summary.txt. Exits non-zero
# when a daemon died, a sample failed, or RSS grew more than SOAK_RSS_GROWTH
# percent (default 25) from the first sample after warm-up to the last.
set -euo pipefail

if [ "${1:-}" = --report ]; then
	# soak.sh --report BUILD_DIR: the last run's samples as a Markdown table
	# (one row a minute), as docs/RELIABILITY.md quotes them
	/usr/bin/python3 - "${2:?usage: soak.sh --report BUILD_DIR}/soak/samples.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| t (s) | wsd RSS (kB) | wsd fds | fcgi RSS (kB) | fcgi fds | wsd connections |")
print("|---|---|---|---|---|---|")
for i, r in enumerate(rows):
    if int(r["t_s"]) % 60 < 10 or i == len(rows) - 1:
        print("| %s | %s | %s | %s | %s | %s |" % (r["t_s"], r["wsd_rss_kb"], r["wsd_fds"],
              r["fcgi_rss_kb"], r["fcgi_fds"], r["wsd_conns"]))
PY
	exit 0
fi
bin=$(cd "${1:?usage: soak.sh BUILD_DIR [SECONDS]}" && pwd)
secs=${2:-${SOAK_SECONDS:-600}}
rate=${SOAK_RATE:-50}
growth_max=${SOAK_RSS_GROWTH:-25}
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
out=$bin/soak
state=$out/stack
mkdir -p "$out"
rm -f "$out"/samples.csv "$out"/ctbench.txt "$out"/mix.txt "$out"/summary.txt

log() { printf 'soak: %s\n' "$*" >&2; }

for f in "$bin/bench/ctbench" "$bin/bench/ctbench-tickets" "$bin/wsd/crosstalk-wsd"; do
	[ -x "$f" ] || { log "missing $f (build first)"; exit 1; }
done

# 2,000 sockets for ctbench plus the mix: raise our own fd limit
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

bg_pids=()
cleanup() {
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	"$src/scripts/stack.sh" down "$state" "$bin" || true
}
trap cleanup EXIT
trap "exit 1" TERM INT

CT_EXTRA_CONF='[limits]
publish_count = 1000000
publish_window = 1
[http]
max_waiters = 600' CT_HTTP_WORKERS=16 CT_RUNTIME_ROLE=1 "$src/scripts/stack.sh" up "$state" "$bin"
set -a
# shellcheck disable=SC1091
. "$state/env"
set +a

pid_of() { awk -v n="$1" '$1 == n { print $2 }' "$state/pids" | tail -n 1; }
wsd=$(pid_of wsd)
fcgi=$(pid_of fcgi)
http_port=${CROSSTALK_HTTP#http://127.0.0.1:}
http_port=${http_port%%/*}
ws_port=${CROSSTALK_WS#ws://127.0.0.1:}
ws_port=${ws_port%%/*}

psql -X -q -v ON_ERROR_STOP=1 -c "INSERT INTO crosstalk.channels (name, title)
	SELECT 'soak' || i, 'soak ' || i FROM generate_series(0, 19) i
	ON CONFLICT DO NOTHING" >/dev/null

# ctbench stops itself after 300 s and runs steps of at most 120 s: run it
# again until the time is up (each run reconnects all 2,000 sockets with
# fresh tickets: connection churn is part of the soak)
run_s=$((secs < 240 ? secs : 240))
load_ctbench() {
	local t0 n=0 left dur
	t0=$(date +%s)
	while :; do
		left=$((secs - ($(date +%s) - t0)))
		[ "$left" -ge 20 ] || break
		dur=$((left < run_s ? left : run_s))
		n=$((n + 1))
		"$bin/bench/ctbench-tickets" app1 2100 200 7200 "$out/tickets.txt" ||
			{ echo "ticket minting failed" >&2; return 1; }
		echo "run $n: ${dur}s" >&2
		"$bin/bench/ctbench" fanout --proto ct --ws "$ws_port" --http "$http_port" \
			--ws-path /ws --subproto crosstalk.v1 --origin "$APP1_ORIGIN" \
			--tickets "$out/tickets.txt" --chan-prefix soak --subs 2000 --channels 20 \
			--pub-ws --pub-conns 4 --window 8 --rates "$rate,$rate" \
			--duration "$((dur / 2))" --drain 3 --keep-going --setup-timeout 60 ||
			return 1
	done
}
sample() { # t -> one CSV line
	local t=$1 wr wf fr ff conns
	wr=$(awk '/^VmRSS/ { print $2 }' "/proc/$wsd/status" 2>/dev/null || echo -1)
	wf=$(ls "/proc/$wsd/fd" 2>/dev/null | wc -l)
	fr=$(awk '/^VmRSS/ { print $2 }' "/proc/$fcgi/status" 2>/dev/null || echo -1)
	ff=$(ls "/proc/$fcgi/fd" 2>/dev/null | wc -l)
	conns=$(curl -s --max-time 5 "http://127.0.0.1:$ws_port/health" |
		$py -c 'import json,sys; print(json.load(sys.stdin).get("connections", -1))' 2>/dev/null || echo -1)
	echo "$t,${wr:--1},$wf,${fr:--1},$ff,$conns"
}

echo "t_s,wsd_rss_kb,wsd_fds,fcgi_rss_kb,fcgi_fds,wsd_conns" >"$out/samples.csv"
sample 0 >>"$out/samples.csv"
started=$(date +%s)
log "load for ${secs}s: 2,000 subscribers, $rate msg/s over WebSocket, churn, HTTP posts and long-polls"

load_ctbench >"$out/ctbench.txt" 2>"$out/ctbench.log" &
bg_pids+=($!)
cb=$!
CT_STATE=$state PYTHONPATH=$src/test/lib PYTHONDONTWRITEBYTECODE=1 \
	$py "$src/test/fault/soak_mix.py" "$secs" >"$out/mix.txt" 2>&1 &
bg_pids+=($!)
mix=$!

fail=0
end=$((started + secs + 30))
next=$((started + 10))
while :; do
	now=$(date +%s)
	if ! kill -0 "$wsd" 2>/dev/null || ! kill -0 "$fcgi" 2>/dev/null; then
		log "a daemon died"
		fail=1
		break
	fi
	if [ "$now" -ge "$next" ]; then
		sample $((now - started)) >>"$out/samples.csv"
		next=$((next + 10))
	fi
	if ! kill -0 "$cb" 2>/dev/null && ! kill -0 "$mix" 2>/dev/null; then break; fi
	[ "$now" -ge "$end" ] && { log "load did not stop in time"; fail=1; break; }
	sleep 1
done
sample $(($(date +%s) - started)) >>"$out/samples.csv"
wait "$cb" || { log "ctbench exited non-zero"; fail=1; }
wait "$mix" || { log "soak-mix exited non-zero"; fail=1; }
bg_pids=()

$py - "$out" "$growth_max" "$secs" "$rate" <<'PY' || fail=1
import csv, os, sys
out, growth_max, secs, rate = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
rows = [r for r in csv.DictReader(open(os.path.join(out, "samples.csv")))]
rows = [{k: int(v) for k, v in r.items()} for r in rows]
bad = [r for r in rows if min(r.values()) < 0]
# warm-up: the first minute (connections, caches, worker connections);
# the curve is judged from then to the last sample taken under load
warm = next((r for r in rows if r["t_s"] >= 60 and r["wsd_conns"] >= 1900), None) \
    or next((r for r in rows if r["wsd_conns"] >= 1900), rows[0])
loaded = [r for r in rows if r["wsd_conns"] >= 1900 and r["t_s"] >= warm["t_s"]] or [warm]
last = loaded[-1]
after = rows[-1]
lines = ["soak: %s s, 2,000 subscribers, %s msg/s over WebSocket + churn + HTTP, %d samples"
         % (secs, rate, len(rows))]
ok = not bad
for d in ("wsd", "fcgi"):
    rss = [r[d + "_rss_kb"] for r in loaded]
    fds = [r[d + "_fds"] for r in loaded]
    g = 100.0 * (last[d + "_rss_kb"] - warm[d + "_rss_kb"]) / max(warm[d + "_rss_kb"], 1)
    lines.append("%s: under load RSS %d kB at t=%d s, min %d max %d, %d kB at t=%d s (%+.1f %%); "
                 "fds min %d max %d; after the load: RSS %d kB, %d fds"
                 % (d, warm[d + "_rss_kb"], warm["t_s"], min(rss), max(rss),
                    last[d + "_rss_kb"], last["t_s"], g, min(fds), max(fds),
                    after[d + "_rss_kb"], after[d + "_fds"]))
    if g > growth_max:
        ok = False
        lines.append("FAIL: %s RSS grew %.1f %% (> %.0f %%)" % (d, g, growth_max))
lines.append("result: %s" % ("flat" if ok else "NOT flat / failed samples"))
open(os.path.join(out, "summary.txt"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
cat "$out/ctbench.txt" >&2 || true
tail -n 5 "$out/mix.txt" >&2 || true
exit $fail
