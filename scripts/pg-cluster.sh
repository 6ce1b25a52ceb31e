#!/bin/sh
# A throwaway PostgreSQL cluster for the tests and the bench (Debian's postgresql package,
# installed when missing and this runs as root).
#
#   scripts/pg-cluster.sh start DIR PORT   initdb in DIR/data (once), start it on
#                                          127.0.0.1:PORT; prints the database URL
#   scripts/pg-cluster.sh stop DIR         fast shutdown (waits for it)
#   scripts/pg-cluster.sh kill DIR         SIGKILL the postmaster (a crash; restart recovers)
#   scripts/pg-cluster.sh status DIR       exit 0 while it runs
#
# initdb refuses to run as root, so as root the cluster belongs to the user `nobody` (it
# owns DIR/data; DIR itself stays root's, world-readable, and holds the socket and the log).
# The cluster trusts local connections (127.0.0.1 only): it is for tests. PG_FSYNC=off
# (the default here) skips fsync, as a test's data need not survive a power cut;
# PG_FSYNC=on for the bench. Exit status: 0 done, 1 failed, 3 PostgreSQL is not installed
# and cannot be (the reason on stderr: the tests skip with it).
set -eu

me=scripts/pg-cluster.sh
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $me start|stop|kill|status DIR [PORT]" >&2; exit 2; }

bindir() {
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && { echo "$d"; return 0; }
	done
	return 1
}

bin=$(bindir) || bin=
if [ -z "$bin" ] && [ "$cmd" = start ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "$me: PostgreSQL is not installed (apt-get install postgresql, as root)" >&2
		exit 3
	fi
	log=$(mktemp)
	if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends postgresql; } >"$log" 2>&1; then
		echo "$me: PostgreSQL is not installed and could not be: $(tail -n 1 "$log")" >&2
		rm -f "$log"
		exit 3
	fi
	rm -f "$log"
	bin=$(bindir) || { echo "$me: postgresql installed, but no initdb found" >&2; exit 3; }
fi
[ -n "$bin" ] || { echo "$me: PostgreSQL is not installed" >&2; exit 3; }

# runs a command as the cluster's owner
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

data=$dir/data
case $cmd in
start)
	port=${3:?$me start DIR PORT}
	mkdir -p "$dir"
	chmod 755 "$dir"
	if [ ! -f "$data/PG_VERSION" ]; then
		mkdir -p "$data"
		[ "$(id -u)" -eq 0 ] && chown nobody "$data"
		chmod 700 "$data"
		as_owner "$bin/initdb" -D "$data" -U rivulet -A trust -E UTF8 --no-locale \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
	fi
	touch "$dir/server.log"
	[ "$(id -u)" -eq 0 ] && chown nobody "$dir/server.log"
	# after a kill, the old backends may hold the shared memory a moment longer: try again
	tries=0
	until as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=/tmp -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
		start >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ $tries -lt 20 ] || { tail -n 20 "$dir/server.log" >&2; exit 1; }
		sleep 0.5
	done
	echo "postgresql://rivulet@127.0.0.1:$port/postgres"
	;;
stop)
	[ -f "$data/postmaster.pid" ] || exit 0
	as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
	;;
kill)
	[ -f "$data/postmaster.pid" ] || exit 0
	pid=$(head -n 1 "$data/postmaster.pid")
	kill -9 "$pid"
	i=0
	while [ $i -lt 100 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
	;;
status)
	as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
	;;
*)
	echo "$me: unknown command '$cmd'" >&2
	exit 2
	;;
esac
