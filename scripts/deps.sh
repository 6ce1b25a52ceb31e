#!/bin/sh
# Installs the Debian packages rivulet needs, only those that are missing; prints nothing
# when everything is there. Used by `make deps`, `make test`, `make demo`, `make bench`,
# `make fuzz`.
#
#   scripts/deps.sh            build + test packages, and what README's walkthrough uses
#                              (graphviz for `dot`, luarocks, Node.js and npm for the
#                              functions and the serve specs, python3 for the terminal specs)
#   scripts/deps.sh --bench    also Ruby (ruby, ruby-liquid), hyperfine, wrk (and the npm
#                              packages of bench/liquid/ and bench/serve/node-red/ when missing)
#   scripts/deps.sh --fuzz     also clang and libFuzzer's runtime
#   scripts/deps.sh --memcheck also valgrind
#   scripts/deps.sh --offline  (or RIVULET_OFFLINE=1, `make ... OFFLINE=1`) installs nothing
#                              and touches no network: says what is missing, and fails only
#                              when a package the build or the tests cannot do without is
#                              missing
#
# Installing needs root (a fresh Debian 12 container runs as root). Exit status: 0 all
# present or installed (offline: all that is needed is present), 1 something missing that
# could not be installed, 2 bad usage.
set -eu

me=scripts/deps.sh
root=$(cd "$(dirname "$0")/.." && pwd)

want="gcc make pkg-config lua5.4 liblua5.4-dev libcurl4-openssl-dev libssl-dev libpcre2-dev libsqlite3-dev libpq-dev lua-cjson
lua-unit lua-yaml lua-check lua-socket lua-expat libedit-dev libmicrohttpd-dev tzdata nodejs npm graphviz luarocks
python3"
# without these the specs that need them skip, saying why (offline, nothing is installed)
optional=" nodejs npm graphviz luarocks python3 "
bench=0
offline=0
case ${RIVULET_OFFLINE:-} in ''|0) ;; *) offline=1 ;; esac
for opt in "$@"; do
	case $opt in
	--bench) want="$want ruby ruby-liquid hyperfine wrk"; bench=1 ;;
	--fuzz) want="$want clang libclang-rt-14-dev" ;;
	--memcheck) want="$want valgrind" ;;
	--offline) offline=1 ;;
	-h|--help) sed -n '2,22s/^# \{0,1\}//p' "$0"; exit 0 ;;
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

if [ -n "$missing" ] && [ "$offline" -eq 1 ]; then
	needed=
	for p in $missing; do
		case $optional in *" $p "*) ;; *) needed="$needed $p" ;; esac
	done
	echo "$me: offline: not installing$missing (the specs that need them skip)" >&2
	if [ -n "$needed" ]; then
		echo "$me: offline, and these are needed to build and test:$needed" >&2
		echo "$me: when online: apt-get install --no-install-recommends$needed (or make deps)" >&2
		exit 1
	fi
	missing=
fi

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
# (offline: said and left out)
npm_in() {
	d="$root/bench/$1"
	if [ "$bench" -eq 1 ] && [ -f "$d/package.json" ] && [ ! -d "$d/node_modules/$2" ]; then
		if [ "$offline" -eq 1 ]; then
			echo "$me: offline: not installing the npm packages of bench/$1 ($2 is left out)" >&2
			return 0
		fi
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
