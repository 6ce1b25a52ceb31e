# shellcheck shell=sh
# Sourced, not run, by the scripts that install pinned npm packages (twilio-run.sh,
# serve-tooling.sh, browser-tooling.sh): one way to run npm and to say why it failed.
#
#   npm_install DIR HOW WHERE
#
# Runs `npm HOW` (ci or install) in DIR, quietly (its output is printed only when it fails),
# optional packages omitted, and a registry that does not answer fails in about a minute,
# not npm's default five. Returns 0; 1 when npm failed (WHERE names the folder in the
# message); 3 when npm could not reach its registry, with npm's own reason. Messages go to
# stderr, prefixed with the caller's $me; stdout is left alone (twilio-run.sh --bin).

# what npm's log says when the registry is out of reach rather than the install wrong
NPM_OFFLINE='ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|socket hang up'

# shellcheck disable=SC2154 # $me is the sourcing script's name
npm_install() {
	npm_log=$(mktemp)
	if (cd "$1" && npm "$2" --omit=optional --no-audit --no-fund --prefer-offline \
		--fetch-timeout=20000 --fetch-retries=1 --fetch-retry-mintimeout=1000 \
		--fetch-retry-maxtimeout=2000 --loglevel=error) >"$npm_log" 2>&1; then
		rm -f "$npm_log"
		return 0
	fi
	cat "$npm_log" >&2
	if npm_why=$(grep -m1 -E "$NPM_OFFLINE" "$npm_log"); then
		npm_why=$(printf '%s\n' "$npm_why" | sed 's/^npm ERR! //; s/^npm error //')
		rm -f "$npm_log"
		echo "$me: npm could not reach its registry $(npm config get registry) ($npm_why); run sh $me again when online, or point npm at a reachable registry/proxy (npm config set registry|proxy)" >&2
		return 3
	fi
	rm -f "$npm_log"
	echo "$me: npm $2 failed in $3" >&2
	return 1
}
