#!/bin/sh
# deps.sh [build|core|browser|bench|fuzz|deb|debcheck]... - install the Debian
# (and npm) packages crosstalk needs, only when missing. apt-get update runs
# only if something is; installing needs root, nothing else here does.
#   build     what compiling the three programs needs, nothing more
#   deb       build + dpkg-dev: `make deb` (no server, no test tool)
#   core      build + what the tests run: PostgreSQL, nginx, Apache, cmocka...
#   debcheck  what the package test (ops_deb) adds: lintian, openssl
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)

build="cmake make gcc pkg-config libfcgi-dev libwebsockets-dev libev-dev
libjansson-dev libpq-dev libinih-dev libssl-dev libcurl4-openssl-dev libmagic-dev"
core="$build spawn-fcgi libcmocka-dev postgresql nginx apache2 curl
python3-websockets clang-format strace"
# the emoji font: reactions render in the tests' Chromium (and its pictures) as
# in a user's browser
browser="chromium nodejs npm openjdk-17-jre-headless fonts-noto-color-emoji"
bench="libnginx-mod-nchan redis-server wrk nodejs npm postgresql-contrib"
fuzz="clang libclang-rt-14-dev"
deb="dpkg-dev"
debcheck="lintian openssl"

want=""
for set in "${@:-core}"; do
	case $set in
	build) want="$want $build" ;;
	core) want="$want $core" ;;
	browser) want="$want $core $browser" ;;
	bench) want="$want $core $bench" ;;
	fuzz) want="$want $core $fuzz" ;;
	deb) want="$want $build $deb" ;;
	debcheck) want="$want $debcheck" ;;
	*) echo "deps.sh: unknown set '$set'" >&2; exit 2 ;;
	esac
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	# node and npm may come from elsewhere than Debian (then Debian's npm
	# would conflict): a working command is enough
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "crosstalk needs these Debian packages:$missing" >&2
		echo "run as root, or: sudo apt-get install$missing" >&2
		exit 1
	fi
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	# The tests start their own nginx, Apache and PostgreSQL on free ports:
	# where an init system would start the packaged services (two web
	# servers both wanting port 80), keep them down while installing.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing >/dev/null
	[ -n "$policy" ] && rm -f "$policy"
	trap - EXIT
fi

# npm pieces, exactly as each package-lock.json says (npm ci), in
# node_modules (not committed); installed again when the lock changed.
# playwright-core stays at 1.61, the last that runs on Debian 12's Node 18.
npm_ci() { # npm_ci DIR
	if ! cmp -s "$1/package-lock.json" "$1/node_modules/.ct-lock" 2>/dev/null; then
		echo "deps: npm ci (${1#"$here"/})"
		(cd "$1" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
			cp package-lock.json node_modules/.ct-lock)
	fi
}
case " $* " in
*" browser "* | *" bench "*) npm_ci "$here/test/browser" ;;
esac
# CFLint's jar (run with Java) for the ColdFusion client's lint
case " $* " in
*" browser "*) npm_ci "$here/test/cfml" ;;
esac
exit 0
