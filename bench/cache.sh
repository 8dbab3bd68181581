#!/usr/bin/env bash
# bench/cache.sh - the read cache, hit vs miss, under wrk: a repeated first page
# (GET /api/imports/ID/properties?limit=100) and a repeated job object (GET
# /api/imports/ID), each against a server with the cache (--cache-bytes 64M:
# every request after the first is a hit) and one without (--cache-bytes 0:
# every request reads PostgreSQL), on the same database, in one run, rounds
# interleaved. Prints a markdown table of requests/s and latency percentiles
# (medians over the rounds) and leaves the raw wrk output in OUT.
#
#   bash bench/cache.sh [--propflow BIN] [--rows N] [--seconds S] [--conns C]
#                       [--rounds R] [--out DIR]
#
# Needs node, curl, jq, wrk and PostgreSQL 15 server binaries (the embedded
# database). Traffic goes to 127.0.0.1 only; every wrk run is bounded by --seconds.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

PROPFLOW="$ROOT/build/propflow"
ROWS=30000
SECONDS_EACH=10
CONNS=20
ROUNDS=3
OUT=""
while [ $# -gt 0 ]; do
	case $1 in
	--propflow) PROPFLOW=$2; shift 2 ;;
	--rows) ROWS=$2; shift 2 ;;
	--seconds) SECONDS_EACH=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "cache.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
die() { echo "cache.sh: $*" >&2; bench_stop_server cache.sh; exit 1; }
for p in node curl jq wrk; do command -v "$p" >/dev/null || die "needs $p"; done
WORK=$(mktemp -d /tmp/propflow-cache-bench.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
SPID=
trap 'bench_stop_server cache.sh; rm -rf "$WORK/data" "$WORK"/*.csv' EXIT
trap 'exit 130' INT TERM
DATA_DIR="$WORK/data"
mkdir -m 755 "$DATA_DIR"

start() { # extra serve args... -> URL
	# shellcheck disable=SC2068
	"$PROPFLOW" serve --listen 127.0.0.1:0 --data-dir "$DATA_DIR" --static-dir "$ROOT/static" \
		--log-level warn --access-log /dev/null $@ >"$OUT/serve.out" 2>>"$OUT/serve.err" &
	SPID=$!
	URL=$(bench_wait_listening "$OUT/serve.out" 900) || die "server did not start: $(tail -n 3 "$OUT/serve.err")"
}
cli() { "$PROPFLOW" "$@" --data-dir "$DATA_DIR"; }

# --- data: one import of ROWS rows, and a token --------------------------------------------------
start --cache-bytes 64M
cli user add bench </dev/null >>"$OUT/users.log" 2>&1 || die "user add failed"
TOKEN=$(cli user token bench 2>>"$OUT/users.log" | tail -n 1)
[[ $TOKEN == pft_* ]] || die "no token: $TOKEN"
node "$ROOT/bench/gen.mjs" --rows "$ROWS" --seed 1111 --out "$WORK/data.csv" --quiet || die "gen.mjs"
ID=$(curl -sS -X POST -T "$WORK/data.csv" -H "Authorization: Bearer $TOKEN" \
	-H 'Content-Type: text/csv' "$URL/api/imports?name=bench.csv" | jq -r .id)
[[ $ID =~ ^[0-9]+$ ]] || die "upload failed"
for _ in $(seq 1 1200); do
	st=$(curl -sS -H "Authorization: Bearer $TOKEN" "$URL/api/imports/$ID" | jq -r .state)
	[ "$st" = done ] && break
	sleep 0.1
done
[ "$st" = done ] || die "import $ID: $st"
bench_stop_server cache.sh
echo "cache.sh: import $ID of $ROWS rows stored" >&2

# --- rounds ---------------------------------------------------------------------------------------
declare -A PATHS=([page]="/api/imports/$ID/properties?limit=100" [job]="/api/imports/$ID")
run() { # mode(hit|miss) what round
	local f="$OUT/$2-$1-$3.txt"
	wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $TOKEN" \
		"$URL${PATHS[$2]}" >"$f" 2>&1 || die "wrk failed: $(tail -n 3 "$f")"
}
for r in $(seq 1 "$ROUNDS"); do
	for mode in hit miss; do
		if [ $mode = hit ]; then start --cache-bytes 64M; else start --cache-bytes 0; fi
		for what in page job; do
			# one request first: the hit runs measure hits only
			curl -sS -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL${PATHS[$what]}"
			run $mode $what "$r"
		done
		curl -sS "$URL/api/ready" >"$OUT/ready-$mode-$r.json"
		bench_stop_server cache.sh
	done
	echo "cache.sh: round $r done" >&2
done

# --- table ----------------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# wrk prints latencies as 1.23ms / 456.00us / 1.20s: in ms
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.2f\n", v }'; }
field() { # file what
	case $2 in
	rps) awk '/^Requests\/sec:/ { print $2 }' "$1" ;;
	p50) awk '$1 == "50%" { print $2 }' "$1" | to_ms ;;
	p99) awk '$1 == "99%" { print $2 }' "$1" | to_ms ;;
	err) awk '/Non-2xx|Socket errors/ { n++ } END { print n + 0 }' "$1" ;;
	esac
}
{
	echo "| read | cache | requests/s | p50 ms | p99 ms | runs with errors |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for what in page job; do
		for mode in hit miss; do
			row="| $what | $mode"
			for k in rps p50 p99; do
				v=$(for r in $(seq 1 "$ROUNDS"); do field "$OUT/$what-$mode-$r.txt" $k; done | median)
				row="$row | $v"
			done
			e=$(for r in $(seq 1 "$ROUNDS"); do field "$OUT/$what-$mode-$r.txt" err; done | awk '{ s += $1 } END { print s + 0 }')
			echo "$row | $e |"
		done
	done
	echo
	echo "hit server's cache after the last round: $(jq -c .cache "$OUT/ready-hit-$ROUNDS.json")"
} | tee "$OUT/cache.md"
echo "cache.sh: raw output in $OUT" >&2
