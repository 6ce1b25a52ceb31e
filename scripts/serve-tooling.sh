#!/bin/sh
# Installs the npm packages of rivulet serve's test tooling (spec/serve/package.json:
# twilio 5.13.1, twilio 6.3.1 as "twilio-6", @stoplight/prism-cli 5.14.2) into
# spec/serve/node_modules, only when they are missing; prints nothing when they are there.
# Used by spec/serve_helper.lua.
#
#   scripts/serve-tooling.sh            install if missing
#   scripts/serve-tooling.sh --check    exit 0 when installed, 1 when not; installs nothing
#
# `npm ci` from the lockfile (~12 s, 234 packages, ~140 MB), optional packages omitted.
# Needs node and npm (scripts/deps.sh installs them). Concurrent runs wait for each other
# (flock, when available). With RIVULET_OFFLINE=1 (`make test OFFLINE=1`) npm is never run.
# Exit status: 0 installed, 1 could not install, 2 bad usage, 3 offline: npm could not
# reach its registry, or RIVULET_OFFLINE=1 (the specs that need these skip, saying so).
set -eu

me=scripts/serve-tooling.sh
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/npm-install.sh"
dir=$root/spec/serve
mode=install
case ${1:-} in
'') ;;
--check) mode=check ;;
-h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "$me: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

# Installed = the pinned versions are in node_modules.
installed() {
	grep -q '"version": "5.13.1"' "$dir/node_modules/twilio/package.json" 2>/dev/null &&
		grep -q '"version": "6.3.1"' "$dir/node_modules/twilio-6/package.json" 2>/dev/null &&
		grep -q '"version": "5.14.2"' "$dir/node_modules/@stoplight/prism-cli/package.json" 2>/dev/null
}

if installed; then exit 0; fi
if [ "$mode" = check ]; then exit 1; fi
case ${RIVULET_OFFLINE:-} in
''|0) ;;
*)
	echo "$me: offline (RIVULET_OFFLINE=$RIVULET_OFFLINE): the serve test tooling is not installed; run sh $me when online" >&2
	exit 3
	;;
esac

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "$me: $tool not found (scripts/deps.sh installs Node.js and npm)" >&2
		exit 1
	fi
done

install() {
	if installed; then return 0; fi   # another run installed it while we waited
	start=$(date +%s)
	echo "$me: installing the serve test tooling into spec/serve/node_modules (npm ci)..." >&2
	npm_install "$dir" ci spec/serve || return
	if ! installed; then
		echo "$me: npm ci finished but the pinned versions are not in spec/serve/node_modules" >&2
		return 1
	fi
	echo "$me: installed in $(($(date +%s) - start)) s" >&2
}

if command -v flock >/dev/null 2>&1; then
	# The lock is the directory itself: nothing is written into the checkout.
	exec 9<"$dir"
	flock 9
fi
status=0
install || status=$?
exit "$status"
