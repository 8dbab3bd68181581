# shellcheck shell=bash
# bench/lib.sh - what bench/run.sh and bench/concurrent.sh share: clocks and
# a propflow server's start and stop. Sourced, not run; SPID is the server's
# pid (empty: none).

now() { echo "$EPOCHREALTIME"; }
# seconds from $1 to $2 (epoch seconds with decimals), 3 decimals
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# bench_wait_listening OUT TRIES: the server's address from its stdout file
# OUT ("propflow listening on URL"), polled every 0.1 s at most TRIES times;
# prints the URL. Returns 1 when the server exited (SPID gone), 2 when it
# printed nothing in time.
bench_wait_listening() {
	local out=$1 tries=$2 line url
	for _ in $(seq 1 "$tries"); do
		line=$(grep -m 1 -o 'listening on http://[^ ]*' "$out" 2>/dev/null)
		if [ -n "$line" ]; then
			url=${line#listening on }
			echo "${url%/}"
			return 0
		fi
		kill -0 "$SPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 2
}

# bench_stop_server WHO: SIGTERM, up to 15 s, then SIGKILL (said on stderr
# as WHO); clears SPID.
bench_stop_server() {
	[ -n "$SPID" ] || return 0
	if kill -0 "$SPID" 2>/dev/null; then
		kill -TERM "$SPID" 2>/dev/null
		for _ in $(seq 1 150); do
			kill -0 "$SPID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$SPID" 2>/dev/null; then
			echo "$1: server $SPID did not stop in 15 s: killing it" >&2
			kill -KILL "$SPID" 2>/dev/null
		fi
	fi
	wait "$SPID" 2>/dev/null
	SPID=
}
