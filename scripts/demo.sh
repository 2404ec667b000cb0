#!/bin/bash
# demo.sh BUILD_DIR - `make demo`: a private crosstalk stack under ./var plus
# the two demo stand-in apps (demo/app.py) and an unregistered third origin.
# Stays in the foreground; Ctrl-C or SIGTERM stops everything it started.
# Ports: CT_HTTP_PORT (8080) CT_WS_PORT (8888) CT_PG_PORT (5499)
#        APP1_PORT (8081) APP2_PORT (8082) APP3_PORT (8083)
set -euo pipefail

bindir=${1:?usage: demo.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
bindir=$(cd "$bindir" && pwd)
state=./var
py=/usr/bin/python3
app1_port=${APP1_PORT:-8081}
app2_port=${APP2_PORT:-8082}
app3_port=${APP3_PORT:-8083}
pids=()

stop() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping"
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	scripts/stack.sh down "$state" "$bindir" || true
}

mkdir -p "$state"
export APP1_ORIGIN="http://127.0.0.1:$app1_port"
export APP2_ORIGIN="http://127.0.0.1:$app2_port"
CT_FIXED_PORTS=1 CT_HTTP_PORT=${CT_HTTP_PORT:-8080} CT_WS_PORT=${CT_WS_PORT:-8888} \
	CT_PG_PORT=${CT_PG_PORT:-5499} scripts/stack.sh up "$state" "$bindir"
trap stop EXIT
trap 'stop; exit 0' INT TERM
cp "$state/env" "$state/demo.env"
# app2 hears of what happens through a webhook (its page /webhooks lists
# what was delivered to it, each signature checked)
hook=$("$bindir/ctl/crosstalkctl" --config "$state/crosstalk.conf" hook add app2 \
	"http://127.0.0.1:$app2_port/webhook" --events message,mention,member,session)
echo "APP2_HOOK_SECRET=$(printf '%s\n' "$hook" | sed -n 's/^secret //p')" >>"$state/demo.env"

start_app() { # start_app LOGNAME ARGS...
	local name=$1
	shift
	"$py" demo/app.py --env "$state/demo.env" "$@" >>"$state/demo-$name.log" 2>&1 &
	pids+=("$!")
}
start_app app1 --app app1 --port "$app1_port"
start_app app2 --app app2 --port "$app2_port"
start_app app3 --unregistered --port "$app3_port"
for port in "$app1_port" "$app2_port" "$app3_port"; do
	for _ in $(seq 1 50); do
		curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null && break
		sleep 0.1
	done
done

# shellcheck disable=SC1091
. "$state/demo.env"
# app1's Alice shares an image in #general, as an app server would (cfhttp:
# upload, then a message naming it): app2's people see it in the widget
api() { curl -fsS --max-time 10 -H "Authorization: Bearer $APP1_KEY" "$@"; }
ref=$(api -d user_id=alice -d display_name="Alice Adams" "$CROSSTALK_HTTP/sessions" |
	sed -n 's/.*"session":"\([^"]*\)".*/\1/p')
file=$(api -H "X-Crosstalk-Session: $ref" -F channel=general \
	-F "file=@docs/screenshot-group.png;filename=group-chats.png" "$CROSSTALK_HTTP/attachments" |
	sed -n 's/.*"id":"\([0-9]*\)".*/\1/p')
api -o /dev/null -H "X-Crosstalk-Session: $ref" -d channel=general -d files="$file" \
	--data-urlencode "text=How group chats look in app1 (a picture shared from app1)" \
	"$CROSSTALK_HTTP/messages" || echo "demo: could not share the picture" >&2
cat <<EOF

crosstalk demo (stand-in apps; not product code)
  app1 "Northwind Orders"   http://127.0.0.1:$app1_port/   logins: alice, bob
  app2 "Southwind Billing"  http://127.0.0.1:$app2_port/   logins: carol, dave, alice
  unregistered origin       http://127.0.0.1:$app3_port/   (the widget refuses it)
  pages after login: /chat (widget), /hook (msgHook), /cfws (crosstalk.js via the loader),
                     app2's /webhooks (what its webhook received)
  #general holds a picture app1's Alice shared: log in to app2 (carol) to see it
  crosstalk API  $CROSSTALK_HTTP
  widget         $CROSSTALK_WIDGET
  logs under $state/; Ctrl-C stops everything.
EOF

# foreground until a signal or a demo app dies
while :; do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "demo: a demo app exited (see $state/demo-*.log)"
			exit 1
		fi
	done
	sleep 1 &
	wait $! || true
done
