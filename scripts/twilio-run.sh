#!/bin/sh
# Installs twilio-run (the local Twilio Functions server) into flows/functions/node_modules,
# only when it is missing; prints nothing when it is there. Used by spec/twilio_run.lua
# (the end-to-end Run Function specs) and by bench/http/run.sh.
#
#   scripts/twilio-run.sh            install if missing
#   scripts/twilio-run.sh --check    exit 0 when installed, 1 when not; installs nothing
#   scripts/twilio-run.sh --bin      install if missing, then print the twilio-run path
#
# Versions are pinned by flows/functions/package.json and package-lock.json: twilio-run
# 5.0.1 (which pins twilio 4.23.0) and @twilio/runtime-handler 2.1.0 (its dev server gives
# functions the request headers). `npm ci` from the lockfile (~20 s; `npm install` ~45 s
# without one), optional packages omitted so no ngrok binary is fetched. Needs node and
# npm (scripts/deps.sh installs them). Concurrent runs wait for each other (flock, when
# available). With RIVULET_OFFLINE=1 (`make test OFFLINE=1`) npm is never run.
# Exit status: 0 installed, 1 could not install, 2 bad usage, 3 offline: npm could not
# reach its registry, or RIVULET_OFFLINE=1 (the specs that need twilio-run skip, saying so).
set -eu

me=scripts/twilio-run.sh
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/npm-install.sh"
dir=$root/flows/functions
mode=install
case ${1:-} in
'') ;;
--check) mode=check ;;
--bin) mode=bin ;;
-h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
*) echo "$me: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

# Installed = the pinned versions are in node_modules.
installed() {
	grep -q '"version": "5.0.1"' "$dir/node_modules/twilio-run/package.json" 2>/dev/null &&
		grep -q '"version": "2.1.0"' "$dir/node_modules/@twilio/runtime-handler/package.json" 2>/dev/null &&
		grep -q '"version": "4.23.0"' "$dir/node_modules/twilio/package.json" 2>/dev/null &&
		[ -x "$dir/node_modules/.bin/twilio-run" ]
}

done_ok() {
	if [ "$mode" = bin ]; then echo "$dir/node_modules/.bin/twilio-run"; fi
	exit 0
}

if installed; then done_ok; fi
if [ "$mode" = check ]; then exit 1; fi
case ${RIVULET_OFFLINE:-} in
''|0) ;;
*)
	echo "$me: offline (RIVULET_OFFLINE=$RIVULET_OFFLINE): twilio-run is not installed; run sh $me when online" >&2
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
	if [ -f "$dir/package-lock.json" ]; then how=ci; else how=install; fi
	echo "$me: installing twilio-run into flows/functions/node_modules (npm $how)..." >&2
	npm_install "$dir" "$how" flows/functions || return
	if ! installed; then
		echo "$me: npm $how finished but twilio-run 5.0.1 is not in flows/functions/node_modules" >&2
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
if [ "$status" -ne 0 ]; then exit "$status"; fi
done_ok
