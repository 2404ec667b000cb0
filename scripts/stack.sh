#!/bin/bash
# stack.sh up|down STATE BINDIR - a private crosstalk stack on loopback:
# a throwaway PostgreSQL 15 (run as the postgres user when root), schema
# migrated, two demo apps, crosstalk-fcgi behind nginx, crosstalk-wsd.
# Used by the ctest fixtures and by `make demo`. It stops exactly what it
# started (pids in STATE/pids) and prints the logs when something fails.
#
# Ports come from the environment or are picked free:
#   CT_PG_PORT CT_HTTP_PORT CT_WS_PORT; CT_FIXED_PORTS=1 means fail
#   when one is taken instead of picking another.
# CT_PG_EXTRA: more postgres options, last wins (bench: "-c fsync=on").
# CT_DB_LOCALE: an ICU locale for the database (e.g. en-US; default: the
#   cluster's C collation), to test what a real collation changes.
# CT_EXTRA_CONF: lines appended to the generated config.
# Never point this at real data: trust auth, fsync off.
#
# stack.sh template|untemplate BINDIR - make (if missing) or remove the
# cluster every stack of BINDIR copies (a ctest fixture around the run).
set -euo pipefail

cmd=${1:?usage: stack.sh up|down STATE BINDIR, or template|untemplate BINDIR}
case $cmd in
template | untemplate) state=; bindir=${2:?build dir} ;;
*) state=${2:?state dir}; bindir=${3:-} ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
py=/usr/bin/python3

log() { printf 'stack: %s\n' "$*" >&2; }
asuser() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() { # free_port WANTED -> WANTED if free, else a free one
	$py "$src/scripts/free-port.py" "$1" "${CT_FIXED_PORTS:-0}"
}

wait_http() { # wait_http URL NAME LOG
	for _ in $(seq 1 100); do
		curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	log "$2 did not come up at $1; its log:"
	tail -n 40 "$3" >&2 || true
	return 1
}

start_bg() { # start_bg NAME LOG CMD... (records the pid)
	local name=$1 logf=$2
	shift 2
	"$@" </dev/null >>"$logf" 2>&1 &
	echo "$name $!" >>"$state/pids"
}

alive() { # a zombie (not yet reaped by its adoptive parent) counts as gone
	[ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_all() {
	[ -f "$state/pids" ] || return 0
	# reverse order: daemons before the database
	tac "$state/pids" | while read -r name pid; do
		[ -n "$pid" ] || continue
		if alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
			if alive "$pid"; then
				log "$name ($pid) ignored SIGTERM; killing"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
	done
	rm -f "$state/pids"
	if [ -f "$state/pgdir" ]; then
		local pgdir
		pgdir=$(cat "$state/pgdir")
		if [ -d "$pgdir/data" ]; then
			asuser "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
		fi
	fi
}

# The template cluster: initdb once per build dir and PostgreSQL version.
# It is never started; each stack copies it (a tenth of initdb's 2 s of
# CPU, and every test with a stack of its own starts one).
template_dir() { echo "$1/pg-template-$(basename "$(dirname "$pgbin")")"; }
make_template() { # make_template BINDIR: the template, made if missing
	local tmpl t
	tmpl=$(template_dir "$1")
	[ -f "$tmpl/PG_VERSION" ] && return 0
	# initdb where the postgres user can reach (see below), then into BINDIR
	t=$(mktemp -d /tmp/ctstack.XXXXXX)
	chmod 755 "$t"
	[ "$(id -u)" = 0 ] && chown postgres "$t"
	if ! asuser "$pgbin/initdb" -A trust -U crosstalk -E UTF8 --no-locale --no-sync \
		-D "$t/data" >"$t/initdb.log" 2>&1; then
		cat "$t/initdb.log" >&2
		rm -rf "$t"
		return 1
	fi
	# two at once: the first to finish keeps its copy (mv -T fails onto
	# an existing template)
	cp -a "$t/data" "$1/.pg-template.$$"
	mv -T "$1/.pg-template.$$" "$tmpl" 2>/dev/null || rm -rf "$1/.pg-template.$$"
	rm -rf "$t"
}

case $cmd in
down)
	stop_all
	if [ -f "$state/pgdir" ]; then rm -rf "$(cat "$state/pgdir")"; rm -f "$state/pgdir"; fi
	exit 0 ;;
template)
	mkdir -p "$bindir"
	make_template "$bindir"
	exit 0 ;;
untemplate)
	rm -rf "$(template_dir "$bindir")"
	exit 0 ;;
up) ;;
*) echo "usage: stack.sh up|down STATE BINDIR, or template|untemplate BINDIR" >&2; exit 2 ;;
esac

[ -x "$bindir/fcgi/crosstalk-fcgi" ] || { log "no binaries in $bindir (build first)"; exit 1; }
mkdir -p "$state"
state=$(cd "$state" && pwd)
stop_all
trap 'log "failed; stopping what started"; stop_all' ERR

pg_port=$(free_port "${CT_PG_PORT:-0}")
http_port=$(free_port "${CT_HTTP_PORT:-0}")
ws_port=$(free_port "${CT_WS_PORT:-0}")

# PostgreSQL refuses root and needs every parent of its dirs traversable:
# keep the cluster (and the short socket paths) under /tmp.
if [ -f "$state/pgdir" ]; then rm -rf "$(cat "$state/pgdir")"; fi
pgdir=$(mktemp -d /tmp/ctstack.XXXXXX)
chmod 755 "$pgdir"
echo "$pgdir" >"$state/pgdir"
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
make_template "$bindir"
cp -a "$(template_dir "$bindir")" "$pgdir/data"
echo "cluster copied from $(template_dir "$bindir") (made by initdb)" >"$state/initdb.log"
asuser "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w \
	-o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 -c synchronous_commit=on ${CT_PG_EXTRA:-}" \
	start >/dev/null || { cat "$pgdir/pg.log" >&2; exit 1; }
ln -sfn "$pgdir/pg.log" "$state/postgres.log"
psql=("$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pgdir" -p "$pg_port" -U crosstalk)
if [ -n "${CT_DB_LOCALE:-}" ]; then
	"${psql[@]}" -d postgres -c "CREATE DATABASE crosstalk TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE '$CT_DB_LOCALE' LOCALE 'C'"
else
	"${psql[@]}" -d postgres -c 'CREATE DATABASE crosstalk'
fi

cat >"$state/crosstalk.conf" <<CONF
; generated by scripts/stack.sh
[database]
conninfo = host=$pgdir port=$pg_port dbname=crosstalk user=crosstalk
[log]
level = ${CT_LOG_LEVEL:-info}
[http]
socket = $pgdir/fcgi.sock
workers = ${CT_HTTP_WORKERS:-8}
public_ws_url = ws://127.0.0.1:$ws_port/ws
public_widget_url = http://127.0.0.1:$ws_port/widget
public_api_url = http://127.0.0.1:$http_port/api/v1
[wsd]
listen = 127.0.0.1
port = $ws_port
web_root = $src/web
origin = http://127.0.0.1:$ws_port
CONF
[ -n "${CT_EXTRA_CONF:-}" ] && printf '%s\n' "$CT_EXTRA_CONF" >>"$state/crosstalk.conf"
ctl=("$bindir/ctl/crosstalkctl" --config "$state/crosstalk.conf")
"${ctl[@]}" migrate >/dev/null
app1_origin=${APP1_ORIGIN:-http://127.0.0.1:8081}
app2_origin=${APP2_ORIGIN:-http://127.0.0.1:8082}
# the demo's sister apps read one user table: one namespace
app1_key=$("${ctl[@]}" app add app1 --origin "$app1_origin" --namespace family 2>/dev/null)
app2_key=$("${ctl[@]}" app add app2 --origin "$app2_origin" --namespace family 2>/dev/null)
"${ctl[@]}" channel add general --title General >/dev/null
"${ctl[@]}" channel add random --title Random >/dev/null
"${ctl[@]}" channel add app1-only --apps app1 --title "App 1 team" >/dev/null

# Least privilege (the default): the daemons connect as crosstalk_app, a
# role that owns nothing and holds only what `crosstalkctl grant` gives it;
# crosstalkctl and CROSSTALK_CONFIG keep the owner (crosstalk), and so do
# the tests' psql (PGUSER). CT_RUNTIME_ROLE=0: the daemons use the owner.
daemon_conf=$state/crosstalk.conf
runtime_role=
if [ "${CT_RUNTIME_ROLE:-1}" = 1 ]; then
	runtime_role=crosstalk_app
	"${psql[@]}" -d crosstalk -c "CREATE ROLE $runtime_role LOGIN"
	"${ctl[@]}" grant "$runtime_role" >/dev/null
	daemon_conf=$state/crosstalk-daemons.conf
	sed "s/^\(conninfo = .*\) user=crosstalk\$/\1 user=$runtime_role/" \
		"$state/crosstalk.conf" >"$daemon_conf"
fi

# like the systemd units' LimitNOFILE: the daemons may hold thousands of
# sockets (the security suite holds 2,000 idle ones)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
start_bg fcgi "$state/fcgi.log" "$bindir/fcgi/crosstalk-fcgi" --config "$daemon_conf"
for _ in $(seq 1 50); do [ -S "$pgdir/fcgi.sock" ] && break; sleep 0.1; done
[ -S "$pgdir/fcgi.sock" ] || { log "crosstalk-fcgi did not open its socket"; cat "$state/fcgi.log" >&2; false; }

# nginx: the shipped API snippet, pointed at this stack's socket
mkdir -p "$state/nginx/tmp"
sed -e "s#unix:/run/crosstalk/fcgi.sock#unix:$pgdir/fcgi.sock#" -e "s#include fastcgi_params;#include /etc/nginx/fastcgi_params;#" "$src/conf/nginx-crosstalk.conf" \
	>"$state/nginx/crosstalk-api.conf"
cat >"$state/nginx/nginx.conf" <<NGX
worker_processes 1;
pid $state/nginx/nginx.pid;
error_log $state/nginx/error.log warn;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 4096; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    # a load generator keeps its connections for a whole benchmark (as
    # bench/nchan.conf.in lets nchan's): nginx's default closes one after
    # 1,000 requests
    keepalive_requests 10000000;
    client_body_temp_path $state/nginx/tmp/body;
    proxy_temp_path $state/nginx/tmp/proxy;
    fastcgi_temp_path $state/nginx/tmp/fastcgi;
    uwsgi_temp_path $state/nginx/tmp/uwsgi;
    scgi_temp_path $state/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$http_port;
        server_name localhost;
        include $state/nginx/crosstalk-api.conf;
        location = / { default_type text/plain; return 200 "crosstalk API under /api/v1/\n"; }
    }
}
NGX
start_bg nginx "$state/nginx/error.log" nginx -e "$state/nginx/error.log" -p "$state/nginx" -c "$state/nginx/nginx.conf" -g 'daemon off;'
wait_http "http://127.0.0.1:$http_port/api/v1/health" "nginx -> crosstalk-fcgi" "$state/fcgi.log"

start_bg wsd "$state/wsd.log" "$bindir/wsd/crosstalk-wsd" --config "$daemon_conf"
wait_http "http://127.0.0.1:$ws_port/health" "crosstalk-wsd" "$state/wsd.log"

cat >"$state/env" <<ENV
CROSSTALK_HTTP=http://127.0.0.1:$http_port/api/v1
CROSSTALK_WS=ws://127.0.0.1:$ws_port/ws
CROSSTALK_WIDGET=http://127.0.0.1:$ws_port/widget
CROSSTALK_WSD=http://127.0.0.1:$ws_port
CROSSTALK_CONFIG=$state/crosstalk.conf
CROSSTALK_DAEMON_CONFIG=$daemon_conf
CROSSTALK_RUNTIME_ROLE=$runtime_role
CROSSTALK_BIN=$bindir
CROSSTALK_STATE=$state
APP1_ID=app1
APP1_KEY=$app1_key
APP1_ORIGIN=$app1_origin
APP2_ID=app2
APP2_KEY=$app2_key
APP2_ORIGIN=$app2_origin
PGHOST=$pgdir
PGPORT=$pg_port
PGUSER=crosstalk
PGDATABASE=crosstalk
PGDATA=$pgdir/data
ENV
trap - ERR
log "up: api http://127.0.0.1:$http_port/api/v1  ws ws://127.0.0.1:$ws_port/ws  pg $pgdir:$pg_port"
