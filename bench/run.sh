#!/bin/bash
# bench/run.sh BUILD_DIR - crosstalk side by side with nginx+nchan (in
# memory, and durable in Redis), a Node.js `ws` server and a raw epoll
# server (one frame per send, and coalescing),
# all driven by the same load generator (ctbench) in ONE run, then
# bench/RESULTS.md (bench/report.py). Every ratio it prints comes from this
# run. Everything listens on 127.0.0.1; every load phase is bounded in count
# and time; only processes started here are stopped.
#
# For every system and scenario: a sweep of publisher connection counts,
# each through the same rate ladder (fine steps below each system's own
# first failure), every delivery checked (ctbench: channel, duplicates,
# order, seq), sustained = no loss, no duplicate, nothing out of order, p99
# <= BENCH_P99_MS; then repetitions at the best rate for pooled p99/p99.9.
# Open-loop publishing: latency counts from the planned send time.
#
# Environment (defaults in brackets):
#   BENCH_QUICK       1: one publisher count, no repetitions, fewer extras [0]
#   BENCH_SYSTEMS     [raw-once raw-coalesce node nchan nchan-redis crosstalk]
#   BENCH_PUBS        publisher connection counts to sweep [16 128]
#   BENCH_REPS        repetitions at each system's best rate [3]
#   BENCH_P99_MS      the latency bound of "sustained" [20]
#   BENCH_STEP_S      seconds per rate step [2]
#   BENCH_IDLE_N      connections of the 1,000-channel scenario [10000]
#   BENCH_CT          crosstalk extras [ws defaults nodes slow wspub httppub chook
#                     pgbench search fsync longpoll profile]
#   BENCH_HOOK_RATE   msg/s of the channel-hook latency step [500]
#   BENCH_SEARCH_N    messages stored for the search figures [1000000]
#   BENCH_OUT         working directory [bench/out]
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench/run.sh BUILD_DIR}" && pwd)
bin=$build/bench
out=${BENCH_OUT:-$src/bench/out}
quick=${BENCH_QUICK:-0}
systems=${BENCH_SYSTEMS:-raw-once raw-coalesce node nchan nchan-redis crosstalk}
if [ "$quick" = 1 ]; then
	pubs_sweep=${BENCH_PUBS:-64}
	reps=${BENCH_REPS:-1}
	ct_scen=" ${BENCH_CT:-ws defaults slow pgbench search} "
else
	pubs_sweep=${BENCH_PUBS:-16 128}
	reps=${BENCH_REPS:-3}
	ct_scen=" ${BENCH_CT:-ws defaults nodes slow wspub httppub chook pgbench search fsync longpoll profile} "
fi
p99_ms=${BENCH_P99_MS:-20}
step_s=${BENCH_STEP_S:-2}
idle_n=${BENCH_IDLE_N:-10000}
py=/usr/bin/python3
started=$(date +%s)

# server on core 0, load generator on core 1 (2-core machine)
SRV_CPU=0
CLI_CPU=1
# the same ladders for every system; ctbench adds 3 fine steps between a
# system's last sustained rate and its first failure. The first rung of
# each is the "equal rate" where CPU per delivery is compared.
rates_1k=${BENCH_RATES_1K:-25,50,100,200,400,800,1600,3200}
rates_mc=${BENCH_RATES_MC:-250,500,1000,2000,4000,8000,16000}
refine=3

want() { [[ $ct_scen == *" $1 "* ]]; }
log() { printf 'bench: [%3ds] %s\n' "$(($(date +%s) - started))" "$*" >&2; }

[ -x "$bin/ctbench" ] || { log "no $bin/ctbench (build first)"; exit 1; }
mkdir -p "$out"
rm -f "$out"/results.txt "$out"/*.log
results=$out/results.txt
: >"$results"

uptime >"$out/load.txt"
printf 'pubs=%s\nreps=%s\np99_ms=%s\nstep_s=%s\nrates_1k=%s\nrates_mc=%s\nquick=%s\nslow_s=30\n' \
	"$pubs_sweep" "$reps" "$p99_ms" "$step_s" "$rates_1k" "$rates_mc" "$quick" >"$out/params.txt"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open files limit $(ulimit -n)"

free_port() { $py "$src/scripts/free-port.py" 0 0; }

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

# ctbench with its results tagged: cb SYSTEM SCENARIO PUBS ARGS...
cb() {
	local sys=$1 scen=$2 npub=$3
	shift 3
	log "$sys / $scen / $npub publishers"
	taskset -c $CLI_CPU "$bin/ctbench" "$@" 2>>"$out/ctbench.log" |
		sed "s/^RESULT /sys=$sys scen=$scen npub=$npub /" | tee -a "$results" >&2
}

# the ladder of one scenario at one publisher count: cb_ladder SYS SCEN
# PUBS RATES ARGS... (fine steps, repetitions, the latency bound). Each
# 50-ms slice of send time whose worst delivery passed the bound is named
# in ctbench.log with its UTC time, to line up with the servers' logs;
# RESULT's stall_slices counts them.
cb_ladder() {
	local sys=$1 scen=$2 npub=$3 rates=$4
	shift 4
	cb "$sys" "$scen" "$npub" fanout "$@" --pub-conns "$npub" --rates "$rates" \
		--warmup 3 --refine $refine --reps "$reps" --max-p99-ms "$p99_ms" --duration "$step_s" --drain 2 \
		--stalls "$p99_ms"
}

# -- the peers ---------------------------------------------------------------
# peer_scenarios SYS PORT SERVER_PIDS STACK_PIDS PUBS...: 1 channel x
# 1,000, then 1,000 channels x 10 (its idle memory first, on the same
# connections); STACK_PIDS: the server's and its store's, for the whole
# stack's CPU
peer_scenarios() {
	local sys=$1 port=$2 spids=$3 stack=$4 npub
	shift 4
	local common=(--proto plain --ws "$port" --http "$port" --ws-path "/sub/%c"
		--pub-path "/pub/%c" --cpu-pids "$spids" --stack-pids "$stack" --rss-pids "$spids")
	for npub in "$@"; do
		cb_ladder "$sys" fan1k "$npub" "$rates_1k" "${common[@]}" --subs 1000
		cb_ladder "$sys" multi "$npub" "$rates_mc" "${common[@]}" --subs "$idle_n" \
			--channels 1000 --pin --hold 2
	done
}

run_raw() { # run_raw once|coalesce: a reference point, one publisher count
	local port pid
	port=$(free_port)
	taskset -c $SRV_CPU "$bin/ctbench-raw" "$port" "$1" --max-seconds 900 \
		2>>"$out/raw.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "raw server did not start"; return 1; }
	local keep=$reps
	reps=1
	peer_scenarios "raw-$1" "$port" "$pid" "$pid" 64
	reps=$keep
	stop_pid "$pid"
}

run_node() {
	local port pid
	if [ ! -d "$src/bench/node/node_modules/ws" ]; then
		(cd "$src/bench/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
			{ log "npm ci failed in bench/node"; return 1; }
	fi
	port=$(free_port)
	taskset -c $SRV_CPU node "$src/bench/node/server.js" "$port" 1800 \
		2>>"$out/node.log" &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "node server did not start"; return 1; }
	# shellcheck disable=SC2086
	peer_scenarios node "$port" "$pid" "$pid" $pubs_sweep
	stop_pid "$pid"
}

# run_nchan [redis]: nginx + nchan, its messages in nginx's shared memory,
# or (redis) kept in a Redis of its own that writes and fsyncs its
# append-only file before it answers or passes on anything of that turn
# (appendfsync always): a peer as durable as crosstalk. Redis floats over
# both cores, as crosstalk's PostgreSQL does.
run_nchan() {
	local port pid worker dir=$out/nchan sys=nchan
	local upstream="# messages in nginx's shared memory only" store="# (memory)"
	local rport= rpid= spids
	if [ "${1:-}" = redis ]; then
		sys=nchan-redis
		dir=$out/nchan-redis
	fi
	port=$(free_port)
	rm -rf "$dir"
	mkdir -p "$dir/tmp"
	if [ "$sys" = nchan-redis ]; then
		rport=$(free_port)
		printf '%s\n' "bind 127.0.0.1" "port $rport" "protected-mode yes" "daemonize no" \
			"dir $dir" "appendonly yes" "appendfsync always" 'save ""' \
			"logfile $dir/redis.log" >"$dir/redis.conf"
		redis-server "$dir/redis.conf" &
		rpid=$!
		pids+=("$rpid")
		wait_port "$rport" || { log "redis-server did not start"; return 1; }
		[ "$(redis-cli -p "$rport" config get appendfsync | tail -n 1)" = always ] ||
			{ log "redis-server is not fsyncing each write"; return 1; }
		upstream="upstream nchan_redis { nchan_redis_server redis://127.0.0.1:$rport; }"
		store="nchan_redis_pass nchan_redis;"
	fi
	sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" \
		-e "s|@NOFILE@|$(($(ulimit -Hn) - 100))|g" \
		-e "s|@UPSTREAM@|$upstream|" -e "s|@STORE@|$store|" \
		"$src/bench/nchan.conf.in" >"$dir/nginx.conf"
	nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
	pid=$!
	pids+=("$pid")
	wait_port "$port" || { log "nginx+nchan did not start"; cat "$dir/error.log" >&2; return 1; }
	# nchan takes the store from each location only: a message published
	# must land in Redis, or this row would measure nginx's memory
	if [ -n "$rpid" ]; then
		curl -s -o /dev/null -X POST -d probe "http://127.0.0.1:$port/pub/store-probe"
		[ "$(redis-cli -p "$rport" dbsize)" -gt 0 ] ||
			{ log "nchan did not keep its message in Redis"; return 1; }
	fi
	worker=$(pgrep -P "$pid" | head -n 1)
	taskset -pc $SRV_CPU "$worker" >/dev/null
	spids=$worker${rpid:+,$rpid}
	# shellcheck disable=SC2086
	peer_scenarios "$sys" "$port" "$worker" "$spids" $pubs_sweep
	if want longpoll; then
		for _ in 1 2 3; do
			cb "$sys" longpoll 1 longpoll --proto plain --http "$port" \
				--lp-path "/lp/%c" --pub-path "/pub/%c" --polls 500 --hold 1 \
				--drain 10 --lp-ready /nchan_status=subscribers
		done
	fi
	stop_pid "$pid"
	[ -n "$rpid" ] && stop_pid "$rpid"
	return 0
}

# -- crosstalk ---------------------------------------------------------------
# ct_up [defaults]: a fresh private crosstalk stack (scripts/stack.sh),
# durable (fsync on). Its best settings: publish limits raised for load,
# 64 FastCGI workers, unauthenticated sockets per address not capped (the
# load comes from one address). "defaults": the shipped configuration.
# Sets wsd, fcgi, ngx, pm, ws_port, http_port, common.
ct_up() {
	local st=$out/stack extra workers=64
	cleanup
	rm -rf "$st"
	mkdir -p "$st"
	stack_state=$st
	extra=$'[limits]\npublish_count = 1000000\npublish_window = 1\nticket_ttl = 3600\nidle_timeout = 600\nauth_timeout = 60\n[http]\nmax_waiters = 600\n[wsd]\nunauth_per_addr = 100000'
	if [ "${1:-}" = defaults ]; then
		extra=$'[limits]\nticket_ttl = 3600'
		workers=8
	fi
	CT_PG_EXTRA="-c fsync=on" CT_HTTP_WORKERS=$workers CT_LOG_LEVEL=warn CT_EXTRA_CONF=$extra \
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
	# publishing users: with the shipped limit (20 per 10 s each) 8,000
	# msg/s need 4,000 of them; the per-user rate-limit row is a lock held
	# to the commit, so one user's publishes serialize (by design)
	"$bin/ctbench-tickets" app1 1 "${users:-400}" 3600 /dev/null "$out/sessions.txt" ||
		{ log "session minting failed"; return 1; }
	ref=$(head -n 1 "$out/sessions.txt")
	common=(--proto ct --ws "$ws_port" --http "$http_port" --ws-path /ws
		--subproto crosstalk.v1 --origin "$APP1_ORIGIN" --tickets "$out/tickets.txt"
		--pub-path /api/v1/messages --header "Authorization: Bearer $APP1_KEY"
		--sessions "$out/sessions.txt" --cpu-pids "$wsd" --rss-pids "$wsd" --conc 60)
}

stack_list() {
	echo "$wsd,$fcgi,$ngx,$(pgrep -P "$ngx" | paste -sd,),$pm,$(pgrep -P "$pm" | paste -sd,)"
}

mint() { "$bin/ctbench-tickets" app1 "$1" "$2" 3600 "$out/tickets.txt"; }

# both scenarios at one publisher count, publishing over HTTP (nginx ->
# crosstalk-fcgi) or, with "ws", over WebSocket (crosstalk-wsd)
ct_scenarios() { # ct_scenarios SYS PUBS [ws]
	local sys=$1 npub=$2 pubopt=()
	[ "${3:-}" = ws ] && pubopt=(--pub-ws --window 8)
	mint $((1000 + npub)) 400
	cb_ladder "$sys" fan1k "$npub" "$rates_1k" "${common[@]}" "${pubopt[@]}" \
		--stack-pids "$(stack_list)" --subs 1000
	settle "$wsd"
	mint $((idle_n + npub)) 400
	cb_ladder "$sys" multi "$npub" "$rates_mc" "${common[@]}" "${pubopt[@]}" \
		--stack-pids "$(stack_list)" --subs "$idle_n" --channels 1000 --pin --hold 2 \
		--setup-timeout 180
	settle "$wsd"
}

# What a channel hook adds to a publish: WebSocket publishes at a fixed rate
# over 100 channels (one subscriber each), first with no hook, then with a
# hook on every bench channel that a local nginx answers ({"allow":true},
# no work of its own): the difference is the hook's round trip through
# crosstalk-wsd's libcurl on its loop. The hook is removed afterwards.
chook_latency() {
	local hport hdir=$out/chook hpid
	hport=$(free_port)
	mkdir -p "$hdir/tmp"
	cat >"$hdir/nginx.conf" <<NGX
worker_processes 1;
pid $hdir/nginx.pid;
error_log $hdir/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root;")
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $hdir/tmp;
    server {
        listen 127.0.0.1:$hport;
        location / { default_type application/json; return 200 '{"allow":true}'; }
    }
}
NGX
	nginx -p "$hdir" -c "$hdir/nginx.conf" -g 'daemon off;' >"$hdir/nginx.log" 2>&1 &
	hpid=$!
	pids+=("$hpid")
	wait_port "$hport" || { log "the hook's nginx did not start"; return 1; }
	taskset -apc $SRV_CPU "$hpid" >/dev/null
	local run=(fanout "${common[@]}" --stack-pids "$(stack_list)" --pub-ws --pub-conns 16
		--window 8 --subs 100 --channels 100 --rates "${BENCH_HOOK_RATE:-500}" --duration 10
		--drain 3 --setup-timeout 60)
	mint 200 400
	cb crosstalk chook-none 16 "${run[@]}"
	"${psql[@]}" -c "SELECT crosstalk.channel_hook_add('app1', 'bench*',
		'http://127.0.0.1:$hport/', ARRAY['publish'], 1000, true)" >/dev/null
	sleep 6 # crosstalk-wsd reads the hooks every 5 s
	mint 200 400
	cb crosstalk chook-on 16 "${run[@]}"
	"${psql[@]}" -c "DELETE FROM crosstalk.channel_hooks WHERE pattern = 'bench*'" >/dev/null
	stop_pid "$hpid"
	sleep 6
}

run_crosstalk() {
	local wsd fcgi ngx pm http_port ws_port ref common=() npub users=400
	local psql=(psql -X -q -v ON_ERROR_STOP=1)
	ct_up || return 1
	"${psql[@]}" -At -c "SELECT name, setting FROM pg_settings WHERE name IN
		('fsync','synchronous_commit','wal_sync_method','shared_buffers',
		 'max_connections','commit_delay','full_page_writes','wal_level')
		ORDER BY name" >"$out/pg-settings.txt"
	for npub in $pubs_sweep; do
		ct_scenarios crosstalk "$npub"
		ct_up || return 1
		if want ws; then
			ct_scenarios crosstalk-ws "$npub" ws
			ct_up || return 1
		fi
	done
	# one subscriber of 1,000 stops reading (a small receive window: a
	# phone on a bad link) for 30 s at 100 msg/s: the others keep their
	# latency (compare the fan-out ladder's step at 100); it is closed with
	# 4008 only if more waits for it than its bounds hold (the kernel's
	# [wsd] sndbuf, queue_max, queue_bytes); either way it ends with every
	# event in order, from what waited or resumed from its last seq
	if want slow; then
		mint 1100 100
		cb crosstalk slow 64 fanout "${common[@]}" --subs 1000 --pub-conns 64 \
			--slow 1 --rates 100 --duration 30 --drain 3
		ct_up || return 1
	fi
	# two crosstalk-wsd nodes on one database, subscribers split over them
	if want nodes; then
		local port2 wsd2
		port2=$(free_port)
		sed "s/^port = .*/port = $port2/" "$CROSSTALK_DAEMON_CONFIG" >"$out/stack/wsd2.conf"
		"$build/wsd/crosstalk-wsd" --config "$out/stack/wsd2.conf" >"$out/stack/wsd2.log" 2>&1 &
		wsd2=$!
		pids+=("$wsd2")
		wait_port "$port2" || { log "second node did not start"; return 1; }
		taskset -apc $SRV_CPU "$wsd2" >/dev/null
		mint $((idle_n + 64)) 400
		cb_ladder crosstalk-2nodes multi 64 "$rates_mc" "${common[@]}" --ws2 "$port2" \
			--cpu-pids "$wsd,$wsd2" --stack-pids "$(stack_list),$wsd2" \
			--subs "$idle_n" --channels 1000 --pin --hold 2 --setup-timeout 180
		stop_pid "$wsd2"
		ct_up || return 1
	fi
	# WebSocket publish throughput: 64 publishers (distinct users), 8 in
	# flight each, acks counted
	if want wspub; then
		mint 64 64
		cb crosstalk wspub 64 fanout "${common[@]}" --stack-pids "$(stack_list)" \
			--subs 0 --pub-ws --pub-conns 64 --window 8 --channels 100 --rates 0 \
			--duration 4 --drain 3
	fi
	# HTTP publish throughput, beside the database alone below: 128
	# keep-alive connections through nginx to crosstalk-fcgi (400 users),
	# each post answered only once committed, 100 channels
	if want httppub; then
		cb crosstalk httppub 128 fanout "${common[@]}" --stack-pids "$(stack_list)" \
			--subs 0 --pub-conns 128 --channels 100 --rates 0 --duration 4 --drain 3
	fi
	want chook && chook_latency
	# the database's own ceiling, batched the way the daemons batch
	want pgbench && pgbench_baselines
	want fsync && pg_test_fsync_report
	want search && search_bench
	# 500 polls wait (published to once crosstalk-fcgi counts all of
	# them waiting), one post wakes them: three times
	if want longpoll; then
		local last
		for _ in 1 2 3; do
			last=$("${psql[@]}" -At -c "SELECT last_seq FROM crosstalk.channels WHERE name = 'bench0'")
			cb crosstalk longpoll 1 longpoll --proto ct --http "$http_port" \
				--header "Authorization: Bearer $APP1_KEY" --header "X-Crosstalk-Session: $ref" \
				--lp-path "/api/v1/messages/poll?channel=%c&after=$last&wait=20" \
				--pub-path /api/v1/messages --polls 500 --hold 1 --drain 15 \
				--lp-ready /api/v1/health=waiting_polls
		done
		settle "$wsd"
	fi
	want profile && profile_wsd "$wsd" "$ws_port" "$http_port"
	# the shipped configuration, as a package installs it: HTTP publish,
	# 8 FastCGI workers, 20 posts per 10 s per user (4,000 users)
	if want defaults; then
		users=4000
		ct_up defaults || return 1
		mint $((idle_n + 64)) 400
		cb_ladder crosstalk-defaults multi 64 "$rates_mc" "${common[@]}" \
			--stack-pids "$(stack_list)" --subs "$idle_n" --channels 1000 --pin --hold 2 \
			--setup-timeout 240
		users=400
	fi
	cleanup
}

# pgbench: post_message() one per transaction, ten per transaction, and the
# daemons' set-based group commit (api_post_batch) of 10 and of 64 posts, over
# 1 and over 1,000 channels; a plain INSERT and INSERT + NOTIFY for the floor.
pgbench_baselines() {
	local psql=(psql -X -q -v ON_ERROR_STOP=1) s n f
	"${psql[@]}" -c "CREATE TABLE IF NOT EXISTS public.bench_t (id bigserial PRIMARY KEY, body text)" >/dev/null
	for n in 10 64; do
		for f in 1 1000; do
			pgbench_batch_script "$n" "$f" >"$out/pgbench-batch$n-$f.sql"
		done
	done
	for s in post1 post1-spread post10 insert insert-notify \
		batch10-1 batch10-1000 batch64-1 batch64-1000; do
		local file=$src/bench/pgbench-$s.sql
		[ -f "$file" ] || file=$out/pgbench-$s.sql
		log "postgres / pgbench $s"
		pgbench -n -c 16 -j 2 -T 4 -f "$file" >"$out/pgbench-$s.txt" 2>&1
		printf 'sys=postgres scen=pgbench-%s tps=%s\n' "$s" \
			"$(awk '/^tps = / { print $3; exit }' "$out/pgbench-$s.txt")" | tee -a "$results" >&2
	done
}

# one api_post_batch of N posts spread over the first F channels, each post
# by one of 400 users (the limits raised)
pgbench_batch_script() {
	local n=$1 f=$2 i
	echo "-- api_post_batch: $n posts over $f channel(s) per transaction"
	for i in $(seq 1 "$n"); do
		echo "\\set c$i random(0, $((f - 1)))"
		echo "\\set u$i random(0, 399)"
	done
	printf "SELECT count(*) FROM crosstalk.api_post_batch(('['"
	for i in $(seq 1 "$n"); do
		[ "$i" -gt 1 ] && printf " || ','"
		printf " || '{\"app\":\"app1\",\"user_id\":\"pg' || :u$i || '\",\"name\":\"PG\",\"channel\":\"bench' || :c$i || '\",\"text\":\"pgbench batch\",\"limit\":1000000,\"window\":1}'"
	done
	printf " || ']')::json);\n"
}

# Full-text search at BENCH_SEARCH_N (1 M) stored messages in 100 channels
# (8 words each from a 5,000-word vocabulary, a few words common, most
# rare, as in chat): latency per query of crosstalk.search_messages, the
# function behind GET messages/search and the WebSocket search, one client
# and 4 at once; and what the search column costs the write path (the
# 64-post batch with and without it).
search_bench() {
	local psql=(psql -X -q -v ON_ERROR_STOP=1) n=${BENCH_SEARCH_N:-1000000} t0 c q
	log "search: storing $n messages"
	t0=$(date +%s)
	"${psql[@]}" <<SQL >/dev/null
INSERT INTO crosstalk.channels (name, title)
SELECT 'srch' || i, 'search ' || i FROM generate_series(0, 99) i ON CONFLICT DO NOTHING;
WITH m AS (SELECT nextval('crosstalk.messages_id_seq') AS id, i FROM generate_series(1, $n) i)
INSERT INTO crosstalk.messages (id, channel, seq, kind, message_id, app, user_id, display_name, text)
SELECT m.id, 'srch' || (m.i % 100), m.i / 100 + 1, 'message', m.id, 'app1', 'u' || (m.i % 400), 'U',
       (SELECT string_agg('w' || floor(5000 * random() ^ 3)::int, ' ') FROM generate_series(1, 8 + (m.i % 2) * 0))
FROM m;
UPDATE crosstalk.channels SET last_seq = $n / 100 + 1 WHERE name LIKE 'srch%';
VACUUM ANALYZE crosstalk.messages;
SQL
	printf 'sys=crosstalk scen=search-load mode=load messages=%s seconds=%s\n' "$n" \
		"$(($(date +%s) - t0))" | tee -a "$results" >&2
	# word classes by how many messages hold them: w0-w9 are in 3-38 %
	# of messages, w100-w999 in 0.05-0.7 %, w2000-w4999 in 0.02-0.04 %
	local cls lo hi
	for cls in common:0:9 middle:100:999 rare:2000:4999 two:100:4999; do
		IFS=: read -r c lo hi <<<"$cls"
		if [ "$c" = two ]; then
			printf '\\set w random(%s, %s)\n\\set v random(%s, %s)\nSELECT count(*) FROM json_array_elements((crosstalk.search_messages('"'app1', 'u1', 'w' || :w || ' w' || :v"', NULL, NULL, 20))->'"'results'"');\n' \
				"$lo" "$hi" "$lo" "$hi" >"$out/pgbench-search-$c.sql"
		else
			printf '\\set w random(%s, %s)\nSELECT count(*) FROM json_array_elements((crosstalk.search_messages('"'app1', 'u1', 'w' || :w"', NULL, NULL, 20))->'"'results'"');\n' \
				"$lo" "$hi" >"$out/pgbench-search-$c.sql"
		fi
	done
	for q in common:1 middle:1 rare:1 two:1 middle:4; do
		IFS=: read -r c n <<<"$q"
		log "search: pgbench $c words, $n client(s)"
		rm -f "$out"/pgbench_log.*
		(cd "$out" && pgbench -n -c "$n" -j "$n" -T 6 -l -f "$out/pgbench-search-$c.sql") \
			>"$out/pgbench-search-$c-$n.txt" 2>&1
		cat "$out"/pgbench_log.* 2>/dev/null | $py -c '
import sys
v = sorted(int(l.split()[2]) / 1000.0 for l in sys.stdin if l.strip())
p = lambda q: v[min(len(v) - 1, int(len(v) * q))] if v else -1
print("sys=crosstalk scen=search mode=search words=%s clients=%s queries=%d qps=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f"
      % (sys.argv[1], sys.argv[2], len(v), len(v) / 6.0, p(0.5), p(0.99), v[-1] if v else -1))' \
			"$c" "$n" | tee -a "$results" >&2
	done
	rm -f "$out"/pgbench_log.*
	# the write path with and without the search column's index
	pgbench_batch_script 64 1000 >"$out/pgbench-batch64-1000.sql"
	pgbench -n -c 16 -j 2 -T 4 -f "$out/pgbench-batch64-1000.sql" >"$out/pgbench-ix-on.txt" 2>&1
	"${psql[@]}" -c "DROP INDEX crosstalk.messages_tsv" >/dev/null
	pgbench -n -c 16 -j 2 -T 4 -f "$out/pgbench-batch64-1000.sql" >"$out/pgbench-ix-off.txt" 2>&1
	"${psql[@]}" -c "CREATE INDEX messages_tsv ON crosstalk.messages USING gin (tsv) WITH (fastupdate = off) WHERE tsv IS NOT NULL" >/dev/null
	printf 'sys=crosstalk scen=search-write mode=write tps_index=%s tps_noindex=%s\n' \
		"$(awk '/^tps = / { print $3; exit }' "$out/pgbench-ix-on.txt")" \
		"$(awk '/^tps = / { print $3; exit }' "$out/pgbench-ix-off.txt")" | tee -a "$results" >&2
}

# what this disk's flush costs: the limit of any durable commit rate
pg_test_fsync_report() {
	local t
	t=$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | sort -V | tail -n 1)
	[ -x "$t" ] || return 0
	log "pg_test_fsync (2 s per test)"
	(cd "$out" && "$t" -s 2 -f "$out/fsync.tmp") >"$out/pg_test_fsync.txt" 2>&1
	rm -f "$out/fsync.tmp"
}

# Where crosstalk-wsd spends its time during fan-out to 1,000 subscribers at
# a fixed, sustainable rate: perf samples (software clock: this VM exposes
# no hardware counters), taken only once every subscriber is connected.
profile_wsd() {
	local wsd=$1 ws_port=$2 http_port=$3 rate=${BENCH_PROFILE_RATE:-200}
	if ! perf stat -e task-clock true >/dev/null 2>&1; then
		log "profile: perf unavailable, skipped"
		return 0
	fi
	mint 1064 100 || return 0
	rm -f "$out/profile.ready"
	log "profile: perf on crosstalk-wsd, 1,000 subscribers x $rate msg/s"
	taskset -c $CLI_CPU "$bin/ctbench" fanout "${common[@]}" \
		--subs 1000 --pub-conns 64 --rates "$rate" --duration 6 --drain 2 \
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
	sed "s/^RESULT /sys=crosstalk scen=profile npub=64 /" "$out/profile-run.txt" >>"$results"
}

for s in $systems; do
	case $s in
	raw-once) run_raw once ;;
	raw-coalesce) run_raw coalesce ;;
	node) run_node ;;
	nchan) run_nchan ;;
	nchan-redis) run_nchan redis ;;
	crosstalk) run_crosstalk ;;
	*) log "unknown system $s" ;;
	esac
done
cleanup

uptime >>"$out/load.txt"
elapsed=$(($(date +%s) - started))
log "runs took ${elapsed}s; writing bench/RESULTS.md"
$py "$src/bench/report.py" "$results" "$out" "$src/bench/RESULTS.md" "$elapsed"
