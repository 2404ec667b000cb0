#!/bin/bash
# bench/run.sh BUILD_DIR - crosstalk side by side with nginx+nchan, a Node.js
# `ws` server and a raw epoll server (one frame per send, and coalescing),
# all driven by the same load generator (ctbench), then one table on stdout
# and bench/RESULTS.md. Everything listens on 127.0.0.1; every load phase
# is bounded in count and time; only processes started here are stopped.
#
# Environment (defaults in brackets):
#   BENCH_SYSTEMS   which to run [raw-once raw-coalesce node nchan crosstalk]
#   BENCH_STEP_S    seconds per publish-rate step [2]
#   BENCH_PUB_CONNS HTTP publish connections, fan-out scenarios [64]
#   BENCH_HTTP_WORKERS crosstalk-fcgi worker threads [64]
#   BENCH_IDLE_N    idle connections for the memory figure [10000]
#   BENCH_PROFILE   perf/callgrind profile of crosstalk-wsd [1]
#   BENCH_OUT       working directory [bench/out]
#   BENCH_CT        crosstalk scenarios to run [fan1k fan5k wspub wrk pgbench
#                   longpoll profile multi]
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench/run.sh BUILD_DIR}" && pwd)
bin=$build/bench
out=${BENCH_OUT:-$src/bench/out}
systems=${BENCH_SYSTEMS:-raw-once raw-coalesce node nchan crosstalk}
step_s=${BENCH_STEP_S:-2}
pub_conns=${BENCH_PUB_CONNS:-64}
idle_n=${BENCH_IDLE_N:-10000}
profile=${BENCH_PROFILE:-1}
ct_scen=" ${BENCH_CT:-fan1k fan5k wspub wrk pgbench longpoll profile multi} "
py=/usr/bin/python3
started=$(date +%s)

# server on core 0, load generator on core 1 (2-core machine)
SRV_CPU=0
CLI_CPU=1
rates_1k=${BENCH_RATES_1K:-50,100,100,100,100,100,200,400,800,1000,1100,1250,1600,3200}
rates_5k=10,20,40,80,160,320,640
rates_mc=250,500,1000,2000,4000,8000,16000

want() { [[ $ct_scen == *" $1 "* ]]; }

log() { printf 'bench: [%3ds] %s\n' "$(($(date +%s) - started))" "$*" >&2; }

[ -x "$bin/ctbench" ] || { log "no $bin/ctbench (build first)"; exit 1; }
mkdir -p "$out"
rm -f "$out"/results.txt "$out"/*.log
results=$out/results.txt
: >"$results"

uptime >"$out/load.txt"
printf 'pub_conns=%s\nhttp_workers=%s\nrates_1k=%s\nrates_5k=%s\nrates_mc=%s\n' \
	"$pub_conns" "${BENCH_HTTP_WORKERS:-64}" "$rates_1k" "$rates_5k" "$rates_mc" >"$out/params.txt"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit $(ulimit -n)"

free_port() {
	$py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# -- processes we start ------------------------------------------------------
pids=()
stack_state=
cleanup() {
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	done
	for p in "${pids[@]:-}"; do
		[ -n "$p" ] || continue
		for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	pids=()
	if [ -n "$stack_state" ]; then
		"$src/scripts/stack.sh" down "$stack_state" "$build" >/dev/null 2>&1
		stack_state=
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() { # stop_pid PID: one we started
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 1 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	local keep=()
	for p in "${pids[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
	pids=("${keep[@]:-}")
	wait "$1" 2>/dev/null
	return 0
}

wait_port() {
	for _ in $(seq 1 100); do
		$py -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$1)))" && return 0
		sleep 0.1
	done
	return 1
}

# settle PID: wait (at most 30 s) until the process uses < 2 % of a core,
# so that one scenario's teardown does not land in the next one's figures
settle() {
	local t0 t1 hz i
	hz=$(getconf CLK_TCK)
	for i in $(seq 1 60); do
		t0=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null) || return 0
		sleep 0.5
		t1=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null) || return 0
		[ $(((t1 - t0) * 100 / hz)) -le 1 ] && { [ "$i" -gt 1 ] && log "settled after ${i}x0.5 s"; return 0; }
	done
	log "process $1 still busy after 30 s"
}

# ctbench with its results tagged: cb SYSTEM SCENARIO ARGS...
cb() {
	local sys=$1 scen=$2
	shift 2
	log "$sys / $scen"
	taskset -c $CLI_CPU "$bin/ctbench" "$@" 2>>"$out/ctbench.log" |
		sed "s/^RESULT /sys=$sys scen=$scen /" | tee -a "$results" >&2
}

# -- the peers ---------------------------------------------------------------
peer_scenarios() { # peer_scenarios SYS PORT SERVER_PIDS [multi-channel]
	local sys=$1 port=$2 spids=$3 multi=${4:-0}
	local common=(--proto plain --ws "$port" --http "$port" --ws-path "/sub/%c"
		--pub-path "/pub/%c" --cpu-pids "$spids" --stack-pids "$spids")
	if [ "$multi" = 1 ]; then
		# idle memory first (BENCH_IDLE_N connections over 1,000 channels),
		# then publishing to the same connections
		cb "$sys" multi fanout "${common[@]}" --subs "$idle_n" --channels 1000 \
			--rss-pids "$spids" --hold 2 --pub-conns "$pub_conns" --rates "$rates_mc" \
			--duration "$step_s" --drain 2
	else
		cb "$sys" idle idle "${common[@]}" --subs "$idle_n" --rss-pids "$spids" --hold 2
	fi
	sleep 0.5
	cb "$sys" fan1k fanout "${common[@]}" --subs 1000 --pub-conns "$pub_conns" \
		--rates "$rates_1k" --duration "$step_s" --drain 2
	cb "$sys" fan5k fanout "${common[@]}" --subs 5000 --pub-conns "$pub_conns" \
		--rates "$rates_5k" --duration "$step_s" --drain 2
}

run_raw() { # run_raw once|coalesce
	local port pid
	port=$(free_port)
	taskset -c $SRV_CPU "$bin/ctbench-raw" "$port" "$1" --max-seconds 300 \
		2>>"$out/raw.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "raw server did not start"; return 1; }
	peer_scenarios "raw-$1" "$port" "$pid" 0
	stop_pid "$pid"
}

run_node() {
	local port pid
	if [ ! -d "$src/bench/node/node_modules/ws" ]; then
		(cd "$src/bench/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
			{ log "npm ci failed in bench/node"; return 1; }
	fi
	port=$(free_port)
	taskset -c $SRV_CPU node "$src/bench/node/server.js" "$port" 300 \
		2>>"$out/node.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "node server did not start"; return 1; }
	peer_scenarios node "$port" "$pid" 1
	stop_pid "$pid"
}

run_nchan() {
	local port pid worker dir=$out/nchan
	port=$(free_port)
	rm -rf "$dir"
	mkdir -p "$dir/tmp"
	sed -e "s#@DIR@#$dir#g" -e "s#@PORT@#$port#g" \
		-e "s#@NOFILE@#$(($(ulimit -Hn) - 100))#g" \
		"$src/bench/nchan.conf.in" >"$dir/nginx.conf"
	nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "nginx+nchan did not start"; cat "$dir/error.log" >&2; return 1; }
	worker=$(pgrep -P "$pid" | head -n 1)
	taskset -pc $SRV_CPU "$worker" >/dev/null
	peer_scenarios nchan "$port" "$worker" 1
	cb nchan longpoll longpoll --proto plain --http "$port" --lp-path "/lp/%c" \
		--pub-path "/pub/%c" --polls 500 --hold 1 --drain 10
	stop_pid "$pid"
}

# -- crosstalk ---------------------------------------------------------------
# ct_up: a fresh private crosstalk stack (scripts/stack.sh), durable, with
# limits raised for load; sets wsd, ws_port, http_port, common, stack_list.
ct_up() {
	local st=$out/stack
	cleanup
	rm -rf "$st"
	mkdir -p "$st"
	stack_state=$st
	CT_PG_EXTRA="-c fsync=on" CT_HTTP_WORKERS=${BENCH_HTTP_WORKERS:-64} CT_LOG_LEVEL=warn \
		CT_EXTRA_CONF=$'[limits]\npublish_count = 1000000\npublish_window = 1\nticket_ttl = 3600\nidle_timeout = 600\nauth_timeout = 60\n[http]\nmax_waiters = 600' \
		"$src/scripts/stack.sh" up "$st" "$build" >"$out/stack.log" 2>&1 ||
		{ log "crosstalk stack did not start:"; tail -n 30 "$out/stack.log" >&2; return 1; }
	set -a
	# shellcheck disable=SC1091
	. "$st/env"
	set +a
	wsd=$(awk '$1 == "wsd" { print $2 }' "$st/pids" | tail -n 1)
	fcgi=$(awk '$1 == "fcgi" { print $2 }' "$st/pids" | tail -n 1)
	ngx=$(awk '$1 == "nginx" { print $2 }' "$st/pids" | tail -n 1)
	pm=$(head -n 1 "$PGDATA/postmaster.pid")
	taskset -apc $SRV_CPU "$wsd" >/dev/null
	http_port=${CROSSTALK_HTTP#http://127.0.0.1:}
	http_port=${http_port%%/*}
	ws_port=${CROSSTALK_WS#ws://127.0.0.1:}
	ws_port=${ws_port%%/*}
	"${psql[@]}" -c "INSERT INTO crosstalk.channels (name, title)
		SELECT 'bench' || i, 'bench ' || i FROM generate_series(0, 999) i
		ON CONFLICT DO NOTHING" >/dev/null
	# 100 publishing users: the per-user rate limit is a row lock held to
	# the commit, so one user's publishes serialize (by design)
	"$bin/ctbench-tickets" app1 100 100 3600 /dev/null "$out/sessions.txt" ||
		{ log "ticket minting failed"; return 1; }
	ref=$(head -n 1 "$out/sessions.txt")
	common=(--proto ct --ws "$ws_port" --http "$http_port" --ws-path /ws
		--subproto crosstalk.v1 --origin "$APP1_ORIGIN" --tickets "$out/tickets.txt"
		--pub-path /api/v1/messages --header "Authorization: Bearer $APP1_KEY"
		--sessions "$out/sessions.txt" --cpu-pids "$wsd" --conc 512)
}

stack_list() {
	echo "$wsd,$fcgi,$ngx,$(pgrep -P "$ngx" | paste -sd,),$pm,$(pgrep -P "$pm" | paste -sd,)"
}

mint() { "$bin/ctbench-tickets" app1 "$1" "$2" 3600 "$out/tickets.txt"; }

run_crosstalk() {
	local wsd fcgi ngx pm http_port ws_port ref last common=()
	local psql=(psql -X -q -v ON_ERROR_STOP=1)
	ct_up || return 1
	"${psql[@]}" -At -c "SELECT name, setting FROM pg_settings WHERE name IN
		('fsync','synchronous_commit','wal_sync_method','shared_buffers',
		 'max_connections','commit_delay','full_page_writes','wal_level')
		ORDER BY name" >"$out/pg-settings.txt"
	if want fan1k; then
		mint 1000 100
		cb crosstalk fan1k fanout "${common[@]}" --stack-pids "$(stack_list)" \
			--subs 1000 --pub-conns "$pub_conns" --rates "$rates_1k" --duration "$step_s" --drain 2
		settle "$wsd"
	fi
	if want fan5k; then
		mint 5000 100
		cb crosstalk fan5k fanout "${common[@]}" --stack-pids "$(stack_list)" \
			--subs 5000 --pub-conns "$pub_conns" --rates "$rates_5k" --duration "$step_s" --drain 2 \
			--setup-timeout 90
		settle "$wsd"
	fi
	# WebSocket publish: 64 publishers (distinct users), 8 in flight each
	if want wspub; then
		mint 64 64
		cb crosstalk wspub fanout "${common[@]}" --stack-pids "$(stack_list)" \
			--subs 0 --pub-ws --pub-conns 64 --window 8 --channels 100 --rates 0 \
			--duration 4 --drain 3
	fi
	# HTTP publish through nginx -> crosstalk-fcgi -> PostgreSQL (wrk)
	want wrk && for nch in 1 100; do
		log "crosstalk / wrk POST messages, $nch channel(s)"
		APP1_KEY=$APP1_KEY BENCH_SESSIONS=$out/sessions.txt BENCH_CHANNELS=$nch \
			taskset -c $CLI_CPU wrk -t1 -c16 -d4s --latency \
			-s "$src/bench/wrk-post.lua" "http://127.0.0.1:$http_port" \
			>"$out/wrk-$nch.txt" 2>&1
		printf 'sys=crosstalk scen=wrk%s rps=%s non2xx=%s p99=%s\n' "$nch" \
			"$(awk '/^Requests\/sec/ { print $2 }' "$out/wrk-$nch.txt")" \
			"$(awk '/Non-2xx/ { print $5 }' "$out/wrk-$nch.txt" | grep . || echo 0)" \
			"$(awk '$1 == "99%" { print $2 }' "$out/wrk-$nch.txt")" | tee -a "$results" >&2
	done
	# the database's own ceiling: the same post_message(), no HTTP
	"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS public.bench_t (id bigserial PRIMARY KEY, body text)" >/dev/null
	want pgbench && for s in post1 post1-spread post10 insert insert-notify; do
		log "postgres / pgbench $s"
		pgbench -n -c 16 -j 2 -T 4 -f "$src/bench/pgbench-$s.sql" >"$out/pgbench-$s.txt" 2>&1
		printf 'sys=postgres scen=pgbench-%s tps=%s\n' "$s" \
			"$(awk '/^tps = / { print $3; exit }' "$out/pgbench-$s.txt")" | tee -a "$results" >&2
	done
	# long-poll: 500 waiting polls woken by one post
	last=$("${psql[@]}" -At -c "SELECT last_seq FROM crosstalk.channels WHERE name = 'bench0'")
	want longpoll && cb crosstalk longpoll longpoll --proto ct --http "$http_port" \
		--header "Authorization: Bearer $APP1_KEY" --header "X-Crosstalk-Session: $ref" \
		--lp-path "/api/v1/messages/poll?channel=%c&after=$last&wait=20" \
		--pub-path /api/v1/messages --polls 500 --hold 1 --drain 15
	settle "$wsd"
	[ "$profile" = 1 ] && want profile && profile_wsd "$wsd" "$ws_port" "$http_port" "$ref"
	# idle memory, then 1,000 channels x 10 on the same connections: on a
	# fresh stack, so that earlier runs' heap does not hide the growth
	want multi || { cleanup; return 0; }
	ct_up || return 1
	mint "$idle_n" 100
	rm -f "$out/multi.ready"
	cb crosstalk multi fanout "${common[@]}" --stack-pids "$(stack_list)" \
		--subs "$idle_n" --channels 1000 --rss-pids "$wsd" --hold 2 \
		--pub-conns "$pub_conns" --rates "$rates_mc" --duration "$step_s" --drain 2 \
		--setup-timeout 120 --ready-file "$out/multi.ready" &
	local cbpid=$!
	# where the daemon's time goes with 10,000 connections and publishes
	# spread over 1,000 channels (the first step)
	if [ "$profile" = 1 ] && perf stat -e task-clock true >/dev/null 2>&1; then
		for _ in $(seq 1 1500); do
			[ -f "$out/multi.ready" ] && break
			kill -0 "$cbpid" 2>/dev/null || break
			sleep 0.1
		done
		if [ -f "$out/multi.ready" ]; then
			perf record -F 1999 ${BENCH_PERF_CG:--g} -p "$wsd" -o "$out/perf-multi.data" -- sleep 1.5 >/dev/null 2>&1
			perf report -i "$out/perf-multi.data" --stdio --no-children --sort symbol \
				--percent-limit 1.5 -g none 2>/dev/null | grep -v '^#' | grep '%' | head -n 20 >"$out/perf-multi-top.txt"
		fi
	fi
	wait "$cbpid"
	cleanup
}

# Where crosstalk-wsd spends its time during fan-out to 1,000 subscribers at
# a fixed, sustainable rate: perf samples (software clock: this VM exposes
# no hardware counters), taken only once every subscriber is connected.
profile_wsd() {
	local wsd=$1 ws_port=$2 http_port=$3 ref=$4 rate=${BENCH_PROFILE_RATE:-200}
	if ! perf stat -e task-clock true >/dev/null 2>&1; then
		log "profile: perf unavailable, skipped"
		return 0
	fi
	"$bin/ctbench-tickets" app1 1000 100 3600 "$out/tickets.txt" || return 0
	rm -f "$out/profile.ready"
	log "profile: perf on crosstalk-wsd, 1,000 subscribers x $rate msg/s"
	taskset -c $CLI_CPU "$bin/ctbench" fanout --proto ct --ws "$ws_port" \
		--http "$http_port" --ws-path /ws --subproto crosstalk.v1 \
		--origin "$APP1_ORIGIN" --tickets "$out/tickets.txt" --conc 128 \
		--pub-path /api/v1/messages --header "Authorization: Bearer $APP1_KEY" \
		--sessions "$out/sessions.txt" --cpu-pids "$wsd" \
		--subs 1000 --pub-conns "$pub_conns" --rates "$rate" --duration 6 --drain 2 \
		--keep-going --ready-file "$out/profile.ready" \
		>"$out/profile-run.txt" 2>>"$out/ctbench.log" &
	local cbpid=$!
	for _ in $(seq 1 600); do
		[ -f "$out/profile.ready" ] && break
		kill -0 "$cbpid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 0.5
	perf stat -e task-clock,context-switches,cpu-migrations,page-faults \
		-p "$wsd" -o "$out/perf-stat.txt" -- sleep 2 >/dev/null 2>&1
	perf record -F 1999 -g -p "$wsd" -o "$out/perf.data" -- sleep 2 >/dev/null 2>&1
	wait "$cbpid"
	perf report -i "$out/perf.data" --stdio --no-children --sort symbol \
		--percent-limit 1 -g none 2>/dev/null | grep -v '^#' | grep '%' | head -n 30 >"$out/perf-top.txt"
	perf report -i "$out/perf.data" --stdio --no-children --sort dso \
		-g none 2>/dev/null | grep -v '^#' | grep '%' | head -n 12 >"$out/perf-dso.txt"
	perf report -i "$out/perf.data" --stdio --children --sort symbol \
		--percent-limit 5 -g none 2>/dev/null | grep -v '^#' | grep '%' | head -n 30 >"$out/perf-children.txt"
	sed "s/^RESULT /sys=crosstalk scen=profile /" "$out/profile-run.txt" >>"$results"
}

for s in $systems; do
	case $s in
	raw-once) run_raw once ;;
	raw-coalesce) run_raw coalesce ;;
	node) run_node ;;
	nchan) run_nchan ;;
	crosstalk) run_crosstalk ;;
	*) log "unknown system $s" ;;
	esac
done
cleanup

uptime >>"$out/load.txt"
elapsed=$(($(date +%s) - started))
log "runs took ${elapsed}s; writing bench/RESULTS.md"
$py "$src/bench/report.py" "$results" "$out" "$src/bench/RESULTS.md" "$elapsed" "$step_s" "$idle_n"
