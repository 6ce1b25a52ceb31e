#!/bin/sh
# Installs the Debian packages rivulet needs, only those that are missing; prints nothing
# when everything is there. Used by `make test`, `make demo`, `make bench`, `make fuzz`.
#
#   scripts/deps.sh            build + test packages
#   scripts/deps.sh --bench    also Ruby (ruby, ruby-liquid), hyperfine, wrk, Node.js and npm (and the npm packages
#                              of bench/liquid/ and bench/serve/node-red/ when missing)
#   scripts/deps.sh --fuzz     also clang and libFuzzer's runtime
#   scripts/deps.sh --memcheck also valgrind
#
# Installing needs root (a fresh Debian 12 container runs as root). Exit status: 0 all
# present or installed, 1 something missing that could not be installed, 2 bad usage.
set -eu

me=scripts/deps.sh
root=$(cd "$(dirname "$0")/.." && pwd)

want="gcc make pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libsqlite3-dev lua-cjson
lua-unit lua-yaml lua-check lua-socket lua-expat libedit-dev libmicrohttpd-dev tzdata nodejs npm"
bench=0
for opt in "$@"; do
	case $opt in
	--bench) want="$want ruby ruby-liquid hyperfine wrk"; bench=1 ;;
	--fuzz) want="$want clang libclang-rt-14-dev" ;;
	--memcheck) want="$want valgrind" ;;
	-h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "$me: unknown option '$opt' (try --help)" >&2; exit 2 ;;
	esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
	# shellcheck disable=SC2086 # one word per package
	echo "$me: not a Debian system; make sure these (or their equivalents) are installed:" \
		$want >&2
	exit 0
fi

# Node.js may come from outside Debian (NodeSource's nodejs bundles its own npm, and
# Debian's npm package conflicts with it): a working command counts as installed.
have_command_for() {
	case $1 in
	nodejs) command -v node >/dev/null 2>&1 ;;
	npm) command -v npm >/dev/null 2>&1 ;;
	*) return 1 ;;
	esac
}

missing=
for p in $want; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=
	case $status in
	*" ok installed") ;;
	*) have_command_for "$p" || missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "$me: missing Debian packages:$missing" >&2
		echo "$me: install them as root: apt-get install --no-install-recommends$missing" >&2
		exit 1
	fi
	echo "$me: installing$missing"
	log=$(mktemp)
	# shellcheck disable=SC2086 # one word per package
	if ! { apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$missing; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "$me: installing$missing failed" >&2
		exit 1
	fi
	rm -f "$log"
fi

# npm_in DIR PACKAGE: the pinned npm packages of bench/DIR, when PACKAGE is not there yet
npm_in() {
	d="$root/bench/$1"
	if [ "$bench" -eq 1 ] && [ -f "$d/package.json" ] && [ ! -d "$d/node_modules/$2" ]; then
		echo "$me: installing npm packages in bench/$1"
		if [ -f "$d/package-lock.json" ]; then
			(cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
		else
			(cd "$d" && npm install --no-audit --no-fund --loglevel=error)
		fi || { echo "$me: npm install in bench/$1 failed" >&2; exit 1; }
	fi
}
npm_in liquid liquidjs
npm_in serve/node-red node-red
exit 0
