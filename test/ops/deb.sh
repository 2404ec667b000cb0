#!/bin/bash
# deb.sh - the Debian package, end to end, on this machine: `make deb`,
# lintian (no errors), dpkg -i, a throwaway PostgreSQL with an owner role
# and the runtime role, both daemons started the way their systemd units
# would (test/ops/unitrun.py: user, groups, umask, runtime directory, no
# capabilities, read-only system, private /tmp and /dev, the system-call
# filter...), health and a wss:// handshake through the shipped TLS nginx
# block, then dpkg --purge and a check that nothing is left behind.
# It installs into the real system: root only (else it prints "skipped"
# and exits 77), never over an installed crosstalk, and the trap purges
# and stops everything it started even when a step fails.
set -uo pipefail

src=${CT_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${CT_BIN:-$src/build}
work=$bin/ops-deb
py=/usr/bin/python3
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pass=0 fail=0
pids=()
pgdir=
installed=0

ok() { if eval "$2"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }
note() { printf 'deb: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
	echo "skipped: the package test installs system-wide and needs root"
	exit 77
fi
if dpkg-query -W -f='${Status}' crosstalk 2>/dev/null | grep -q installed; then
	echo "skipped: a crosstalk package is already installed here; not touching it"
	exit 77
fi

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "$installed" = 1 ]; then
		dpkg --purge crosstalk >"$work/purge.log" 2>&1 || cat "$work/purge.log"
	fi
	rm -rf /run/crosstalk
	if [ -n "$pgdir" ] && [ -d "$pgdir/data" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
}
trap cleanup EXIT

free_port() { $py "$src/scripts/free-port.py" 0 0; } # below the ephemeral range, as stack.sh picks

rm -rf "$work" && mkdir -p "$work"

# ---- build and lint ----
"$src/scripts/deps.sh" debcheck >"$work/deps.log" 2>&1 || { cat "$work/deps.log"; echo "FAIL: deps.sh debcheck"; exit 1; }
if ! make -C "$src" --no-print-directory deb DEB_BUILD="$work/build" >"$work/make.log" 2>&1; then
	tail -n 40 "$work/make.log"
	echo "FAIL: make deb"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
version=$(sed -n 's/^project(crosstalk VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb=$work/build/crosstalk_${version}_amd64.deb
ok "make deb builds crosstalk_${version}_amd64.deb" '[ -f "$deb" ]'
lintian --no-tag-display-limit "$deb" >"$work/lintian.log" 2>&1
errors=$(grep -c '^E:' "$work/lintian.log")
warnings=$(grep -c '^W:' "$work/lintian.log")
note "lintian: $errors errors, $warnings warnings"
grep -E '^[EW]:' "$work/lintian.log"
ok "lintian reports no errors" '[ "$errors" = 0 ]'
ok "crosstalk.conf is a conffile" \
	'dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/crosstalk/crosstalk.conf'

# ---- install ----
if ! dpkg -i "$deb" >"$work/install.log" 2>&1; then
	cat "$work/install.log"
	installed=1
	echo "FAIL: dpkg -i"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
installed=1
ok "postinst created the crosstalk system user" 'getent passwd crosstalk | grep -q ":/nonexistent:"'
ok "the config is 0640 root:crosstalk" '[ "$(stat -c %a:%U:%G /etc/crosstalk/crosstalk.conf)" = 640:root:crosstalk ]'
for p in crosstalk-fcgi crosstalk-wsd crosstalkctl; do
	ok "$p --version" '"/usr/bin/$p" --version | grep -q "$version"'
	ok "man page for $p" '[ -f /usr/share/man/man1/$p.1.gz ] && man -l /usr/share/man/man1/$p.1.gz >/dev/null 2>&1'
	# every command of --help is in the man page
	if [ "$p" = crosstalkctl ]; then
		for c in migrate "app add" "app set" "app list" "app rotate" "app remove" "channel add" "channel list" \
			"channel members" "channel rename" "channel delete" "hook add" "hook retry" "channel-hook add" \
			"channel-hook list" "channel-hook remove" prune grant check; do
			ok "crosstalkctl.1 documents '$c'" \
				'zcat /usr/share/man/man1/crosstalkctl.1.gz | sed "s/\\\\-/-/g; s/\\\\f[BIR]//g" | grep -F -- "$c" >/dev/null'
		done
	fi
done
ok "SQL under /usr/share/crosstalk/sql" 'ls /usr/share/crosstalk/sql/*_roles.sql >/dev/null'
ok "web files under /usr/share/crosstalk/web" '[ -n "$(ls /usr/share/crosstalk/web)" ]'
ok "nginx, Apache and IIS examples" '[ -f /usr/share/doc/crosstalk/examples/nginx-crosstalk-tls.conf ] && [ -f /usr/share/doc/crosstalk/examples/apache-crosstalk.conf ] && [ -f /usr/share/doc/crosstalk/examples/iis/web.config ]'
for u in crosstalk-fcgi crosstalk-wsd; do
	f=/lib/systemd/system/$u.service
	ok "$u.service: hardened" 'grep -qx "ProtectSystem=strict" "$f" && grep -qx "NoNewPrivileges=yes" "$f" && grep -qx "User=crosstalk" "$f"'
	if command -v systemd-analyze >/dev/null 2>&1; then
		ok "$u.service: systemd-analyze verify" 'systemd-analyze verify "$f" >"$work/verify-$u.log" 2>&1 || ! grep -qv "Failed to\|not running\|System has not" "$work/verify-$u.log"'
	fi
done

# ---- a database: owner role runs migrate, runtime role runs the daemons ----
pgdir=$(mktemp -d /tmp/ctdeb.XXXXXX)
chmod 755 "$pgdir" && chown postgres "$pgdir"
pg_port=$(free_port)
runuser -u postgres -- "$pgbin/initdb" -A trust -U postgres -E UTF8 --no-locale --no-sync \
	-D "$pgdir/data" >"$work/initdb.log" 2>&1
runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/pg.log" -w \
	-o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
psql=("$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres)
"${psql[@]}" -d postgres -c "CREATE ROLE crosstalk_owner LOGIN" \
	-c "CREATE ROLE crosstalk_app LOGIN" -c "CREATE DATABASE crosstalk OWNER crosstalk_owner"
admin=$work/admin.conf
sed "s#^conninfo = .*#conninfo = host=127.0.0.1 port=$pg_port dbname=crosstalk user=crosstalk_owner#" \
	/etc/crosstalk/crosstalk.conf >"$admin"
ctl=(/usr/bin/crosstalkctl --config "$admin")
ok "migrate as the owner role (not a superuser)" '"${ctl[@]}" migrate >"$work/migrate.log" 2>&1'
ok "grant crosstalk_app" '"${ctl[@]}" grant crosstalk_app >/dev/null'
app_key=$("${ctl[@]}" app add app1 --origin https://app1.example.test)
"${ctl[@]}" channel add general --title General >/dev/null

# the installed config, edited the way an operator would
ws_port=$(free_port)
sed -i -e "s#^conninfo = .*#conninfo = host=127.0.0.1 port=$pg_port dbname=crosstalk user=crosstalk_app#" \
	-e "s#^port = 8888#port = $ws_port#" \
	-e "s#^public_ws_url = .*#public_ws_url = wss://localhost/ws#" \
	-e "s#^origin = .*#origin = https://localhost#" \
	-e "s#^trusted_proxies =.*#trusted_proxies = 127.0.0.1#" /etc/crosstalk/crosstalk.conf
ok "crosstalkctl check as the runtime role, as the unit's user" \
	'setpriv --reuid=crosstalk --regid=crosstalk --init-groups /usr/bin/crosstalkctl --config /etc/crosstalk/crosstalk.conf check >"$work/check.log" 2>&1'
grep privileges "$work/check.log"

# ---- start both daemons as their units would ----
run_unit() { # run_unit NAME: the unit's ExecStart under all of its sandboxing (unitrun.py)
	local f=/lib/systemd/system/$1.service
	$py "$src/test/ops/unitrun.py" "$f" >"$work/$1.log" 2>&1 </dev/null &
	pids+=("$!")
}
run_unit crosstalk-fcgi
run_unit crosstalk-wsd
for _ in $(seq 1 50); do [ -S /run/crosstalk/fcgi.sock ] && break; sleep 0.1; done
ok "crosstalk-fcgi opened /run/crosstalk/fcgi.sock" '[ -S /run/crosstalk/fcgi.sock ]'
ok "the socket is 0660 crosstalk:www-data" '[ "$(stat -c %a:%U:%G /run/crosstalk/fcgi.sock)" = 660:crosstalk:www-data ]'
ok "the daemons run as crosstalk" '[ "$(ps -o user= -p "${pids[0]}")" = crosstalk ] && [ "$(ps -o user= -p "${pids[1]}")" = crosstalk ]'

# ---- nginx with the packaged TLS example, workers as www-data ----
ng=$work/nginx
mkdir -p "$ng/tmp" && chown www-data "$ng/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	-keyout "$ng/key.pem" -out "$ng/cert.pem" >/dev/null 2>&1
https_port=$(free_port)
sed -e '/^# Port 80:/,$d' -e '/listen \[::\]/d' \
	-e "s#listen 443 ssl;#listen 127.0.0.1:$https_port ssl;#" \
	-e "s#server_name chat.example.com;#server_name localhost;#" \
	-e "s#/etc/ssl/certs/crosstalk.pem#$ng/cert.pem#" \
	-e "s#/etc/ssl/private/crosstalk.key#$ng/key.pem#" \
	-e "s#server 127.0.0.1:8888;#server 127.0.0.1:$ws_port;#" \
	-e "s#include fastcgi_params;#include /etc/nginx/fastcgi_params;#" \
	/usr/share/doc/crosstalk/examples/nginx-crosstalk-tls.conf >"$ng/crosstalk.conf"
cat >"$ng/nginx.conf" <<NGX
user www-data;
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    include $ng/crosstalk.conf;
}
NGX
nginx -e "$ng/error.log" -p "$ng" -c "$ng/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
pids+=("$!")
curl_tls=(curl -sS --max-time 5 --cacert "$ng/cert.pem" --resolve "localhost:$https_port:127.0.0.1")
for _ in $(seq 1 50); do
	"${curl_tls[@]}" -o /dev/null "https://localhost:$https_port/api/v1/health" 2>/dev/null && break
	sleep 0.1
done
body=$("${curl_tls[@]}" -w ' %{http_code}' "https://localhost:$https_port/api/v1/health")
ok "API health through nginx (https, www-data -> unix socket)" 'grep -q "\"ok\":true" <<<"$body" && [[ "$body" == *" 200" ]]'
[[ "$body" == *" 200" ]] || { echo "got: $body"; tail -n 5 "$ng/error.log" "$work/crosstalk-fcgi.log"; }
body=$("${curl_tls[@]}" -w ' %{http_code}' "https://localhost:$https_port/health")
ok "wsd health through nginx" '[[ "$body" == *" 200" ]]'
[[ "$body" == *" 200" ]] || { echo "got: $body"; tail -n 5 "$work/crosstalk-wsd.log"; }
ws=$($py - "$https_port" "$ng/cert.pem" "$app_key" <<'PY' 2>&1
import asyncio, json, ssl, sys, urllib.request
import websockets
port, ca, key = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
base = "https://localhost:%s" % port
def api(path, body, extra=None):
    h = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
    h.update(extra or {})
    req = urllib.request.Request(base + "/api/v1/" + path, method="POST",
                                 data=json.dumps(body).encode(), headers=h)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        return json.loads(r.read())
async def until(ws, pred):
    while True:
        for line in (await asyncio.wait_for(ws.recv(), 10)).split("\n"):
            if line.strip() and pred(json.loads(line)):
                return json.loads(line)
async def main():
    ws = await websockets.connect("wss://localhost:%s/ws" % port, ssl=ctx,
        origin="https://app1.example.test", subprotocols=["crosstalk.v1"],
        ping_interval=None, open_timeout=10)
    print("subprotocol", ws.subprotocol)
    ref = api("sessions", {"user_id": "debuser", "display_name": "Deb User", "ttl": 600})["session"]
    ticket = api("tickets", {}, {"X-Crosstalk-Session": ref})["ticket"]
    await ws.send(json.dumps({"type": "auth", "ticket": ticket}))
    print("auth", (await until(ws, lambda e: e["type"] in ("welcome", "error")))["type"])
    await ws.send(json.dumps({"type": "subscribe", "channel": "general", "after": "0"}))
    await until(ws, lambda e: e["type"] in ("subscribed", "error"))
    await ws.send(json.dumps({"type": "publish", "channel": "general",
                              "text": "from the package", "client_id": "deb1"}))
    ev = await until(ws, lambda e: e["type"] == "message" or e["type"] == "error")
    print("message", ev.get("text"))
    await ws.close()
try:
    asyncio.run(main())
except Exception as e:
    print("error", repr(e))
PY
)
ok "wss:// handshake from the registered origin through nginx" 'grep -qx "subprotocol crosstalk.v1" <<<"$ws"'
ok "a ticket from the https API authenticates over wss://" 'grep -qx "auth welcome" <<<"$ws"'
ok "a published message comes back over wss://" 'grep -qx "message from the package" <<<"$ws"'
grep -q "^error" <<<"$ws" && echo "got: $ws"

# ---- stop, purge, nothing left ----
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
done
ok "both daemons stop on SIGTERM" '! kill -0 "${pids[0]}" 2>/dev/null && ! kill -0 "${pids[1]}" 2>/dev/null'
pids=()
rm -rf /run/crosstalk # systemd removes RuntimeDirectory= on stop
ok "dpkg --purge" 'dpkg --purge crosstalk >"$work/purge.log" 2>&1'
installed=0
ok "nothing left: files" '[ ! -e /etc/crosstalk ] && [ ! -e /usr/share/crosstalk ] && [ ! -e /usr/share/doc/crosstalk ] && [ ! -e /usr/bin/crosstalkctl ] && [ ! -e /lib/systemd/system/crosstalk-wsd.service ] && [ ! -e /usr/share/man/man1/crosstalkctl.1.gz ]'
ok "nothing left: user and group" '! getent passwd crosstalk >/dev/null && ! getent group crosstalk >/dev/null'
ok "nothing left: dpkg database" '! dpkg-query -W crosstalk >/dev/null 2>&1'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
