#!/bin/sh
# Installs what the inspector's browser spec (spec/test_inspector_browser.lua) needs, only
# what is missing; prints nothing when everything is there:
#   - Debian's Chromium (/usr/bin/chromium; apt-get, as root), the browser it drives;
#   - playwright-core 1.65.2 in spec/browser/node_modules (npm ci from the lockfile), which
#     drives it. No browser is downloaded: playwright-core uses /usr/bin/chromium.
#
#   scripts/browser-tooling.sh            install if missing
#   scripts/browser-tooling.sh --check    exit 0 when installed, 1 when not; installs nothing
#
# With RIVULET_OFFLINE=1 (`make test OFFLINE=1`) neither apt-get nor npm is run.
#
# Exit status: 0 installed, 1 could not install, 2 bad usage, 3 cannot be had here (not
# root, not Debian, a registry that does not answer, or RIVULET_OFFLINE=1): the spec skips,
# saying why.
set -eu

me=scripts/browser-tooling.sh
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/npm-install.sh"
dir=$root/spec/browser
chromium=${RIVULET_CHROMIUM:-/usr/bin/chromium}
mode=install
case ${1:-} in
'') ;;
--check) mode=check ;;
-h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "$me: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

have_driver() {
	grep -q '"version": "1.65.2"' "$dir/node_modules/playwright-core/package.json" 2>/dev/null
}
have_browser() { [ -x "$chromium" ]; }

if have_driver && have_browser; then exit 0; fi
if [ "$mode" = check ]; then exit 1; fi
case ${RIVULET_OFFLINE:-} in
''|0) ;;
*)
	echo "$me: offline (RIVULET_OFFLINE=$RIVULET_OFFLINE): Chromium or playwright-core is not installed; run sh $me when online" >&2
	exit 3
	;;
esac

if ! have_browser; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "$me: no $chromium and no apt-get to install Debian's chromium package" >&2
		exit 3
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "$me: no $chromium; install it as root: apt-get install --no-install-recommends chromium" >&2
		exit 3
	fi
	echo "$me: installing Debian's chromium (apt-get)..." >&2
	log=$(mktemp)
	if ! { apt-get update -qq &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		echo "$me: apt-get could not install chromium" >&2
		exit 3
	fi
	rm -f "$log"
fi

if ! have_driver; then
	for tool in node npm; do
		if ! command -v "$tool" >/dev/null 2>&1; then
			echo "$me: $tool not found (scripts/deps.sh installs Node.js and npm)" >&2
			exit 3
		fi
	done
	echo "$me: installing playwright-core into spec/browser/node_modules (npm ci)..." >&2
	npm_install "$dir" ci spec/browser || exit
	if ! have_driver; then
		echo "$me: npm ci finished but playwright-core 1.65.2 is not in spec/browser/node_modules" >&2
		exit 1
	fi
fi
