#!/usr/bin/env bash
# bench/search.sh - search and filter pages under load, with 1M rows in property_records.
#
# Starts a private PostgreSQL (initdb in a temp dir, Unix socket only, default settings) and
# `propflow serve --db` on it, creates one user, imports --imports files of --rows rows each
# (bench/gen.mjs, seeds 1..N, through `propflow import --user`, so the server's own pipeline
# writes them), waits until the server has sealed them (their indexes, schema/011_segments.sql),
# runs ANALYZE (as autovacuum would soon), then builds request lists from the stored
# rows and runs wrk (bench/wrk/paths.lua) for --duration against each list in turn:
#   page     GET /api/imports/ID/properties?limit=100 (the plain first page: the reference)
#   q        q= of a stored address with one typo in its street word, a city prefix, a zip, a
#            source id
#   filter   price/beds/sqft/year bounds, zip, city, status, outlier, in several combinations
#   sort     the filters above with each sort, both directions
#   all      GET /api/properties (across all imports) with q= and filters
# Reports requests/s and wrk's p50/p90/p99 per list (medians of --repeat runs) as a markdown table
# (OUT/search.md; wrk output in OUT/).
#
# usage: bench/search.sh [--imports 10] [--rows 100000] [--conns 20] [--duration 20s] [--repeat 3]
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROPFLOW=${PROPFLOW:-$ROOT/build/propflow}
IMPORTS=10
ROWS=100000
CONNS=20
THREADS=2
DURATION=20s
REPEAT=3
LISTS="page q filter sort all"
OUT="$ROOT/bench/out/search"
KEEP=0
SERVE_ARGS=()

usage() {
	cat <<EOF
usage: bench/search.sh [options]
  --propflow PATH   propflow binary (default \$PROPFLOW, else build/propflow)
  --imports N       imports loaded (default $IMPORTS)
  --rows N          rows per import (default $ROWS)
  --conns C         wrk connections (default $CONNS)
  --threads T       wrk threads (default $THREADS)
  --duration D      wrk duration per run (default $DURATION)
  --repeat R        wrk runs per list; medians reported (default $REPEAT)
  --lists "L ..."   subset of: $LISTS
  --out DIR         results directory (default bench/out/search)
  --keep            keep the work directory (database included)
  --cache-bytes B   the server's read cache (default: its own, 64M; 0: every page is read)
EOF
}
die() {
	echo "search.sh: $*" >&2
	exit 1
}
while [ $# -gt 0 ]; do
	case "$1" in
	--propflow) PROPFLOW=$2; shift 2 ;;
	--imports) IMPORTS=$2; shift 2 ;;
	--rows) ROWS=$2; shift 2 ;;
	--conns) CONNS=$2; shift 2 ;;
	--threads) THREADS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--repeat) REPEAT=$2; shift 2 ;;
	--lists) LISTS=$2; shift 2 ;;
	--cache-bytes) SERVE_ARGS=(--cache-bytes "$2"); shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option $1" ;;
	esac
done
for v in IMPORTS ROWS CONNS THREADS REPEAT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"
done
for tool in node psql curl jq awk wrk; do
	command -v "$tool" >/dev/null || die "$tool is needed (apt-get install nodejs postgresql-client curl jq wrk)"
done
[ -x "$PROPFLOW" ] || die "no propflow binary at $PROPFLOW (meson compile -C build, or --propflow)"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PG_BIN/initdb" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/propflow-search.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK"
PGDATA=$WORK/pg
SOCK=$WORK/sock
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)
SPID=
PG_STARTED=0
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	bench_stop_server search.sh
	cp "$WORK/pg.log" "$OUT/postgresql.log" 2>/dev/null
	if [ "$PG_STARTED" = 1 ]; then
		"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1
	fi
	if [ "$KEEP" = 1 ]; then
		echo "search.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL and the server -----------------------------------------------------------------
mkdir -p "$PGDATA" "$SOCK"
: >"$WORK/pg.log"
chmod 700 "$PGDATA"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$PGDATA" "$SOCK" "$WORK/pg.log"
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale \
	>"$WORK/initdb.log" 2>&1 || die "initdb failed: $(tail -n 5 "$WORK/initdb.log")"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w -t 60 \
	-o "-k $SOCK -c listen_addresses=''" start >/dev/null ||
	die "PostgreSQL did not start: $(tail -n 5 "$WORK/pg.log")"
PG_STARTED=1
PSQL=(psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -U postgres -d search)
PGOPTIONS="-c client_min_messages=warning" psql -X -q -h "$SOCK" -U postgres -d postgres \
	-c "CREATE DATABASE search" || die "cannot create the database"
DB="host=$SOCK dbname=search user=postgres"

"$PROPFLOW" serve --listen 127.0.0.1:0 --db "$DB" --static-dir "$ROOT/static" "${SERVE_ARGS[@]}" \
	>"$OUT/serve.out" 2>"$OUT/serve.err" &
SPID=$!
URL=$(bench_wait_listening "$OUT/serve.out" 600)
case $? in
1) die "server exited: $(tail -n 3 "$OUT/serve.err")" ;;
2) die "server did not print its address in 60 s" ;;
esac
echo "search.sh: server $URL" >&2
cli() { "$PROPFLOW" "$@" --db "$DB"; }
cli user add bench </dev/null >"$OUT/users.log" 2>&1 || die "user add failed: $(tail -n 2 "$OUT/users.log")"
TOKEN=$(cli user token bench 2>>"$OUT/users.log" | tail -n 1)
[[ $TOKEN == pft_* ]] || die "no token: $TOKEN"

# --- data --------------------------------------------------------------------------------------
t0=$(now)
for i in $(seq 1 "$IMPORTS"); do
	f=$WORK/in$i.csv
	node "$ROOT/bench/gen.mjs" --rows "$ROWS" --seed "$i" --dialect mls --quiet --out "$f" ||
		die "gen.mjs failed"
	cli import "$f" --user bench --json >"$OUT/import$i.json" 2>"$OUT/import$i.err" ||
		die "import $i failed: $(tail -n 3 "$OUT/import$i.err")"
	rm -f "$f"
done
# the server seals each done import (its sort, search and filter indexes, schema/011_segments.sql)
# with its final analysis; `propflow import` runs none, so the server's sweep finds them (4 every
# 10 s): the pages are timed on sealed imports, as a user's would be a few seconds after the end
t1=$(now)
UNSEALED="SELECT count(*) FROM pg_class WHERE relname ~ '^property_records_j[0-9]+_[0-9]+\$'
	AND to_regclass(relname || '_search') IS NULL"
while [ "$("${PSQL[@]}" -c "$UNSEALED")" != 0 ]; do
	kill -0 "$SPID" 2>/dev/null || die "server exited while sealing"
	sleep 1
done
echo "search.sh: imports sealed in $(elapsed "$t1" "$(now)") s after the last one" >&2
"${PSQL[@]}" -c "ANALYZE" || die "ANALYZE failed"
TOTAL=$("${PSQL[@]}" -c "SELECT count(*) FROM property_records")
echo "search.sh: $TOTAL rows in property_records ($(elapsed "$t0" "$(now)") s to load)" >&2
JOBS=$("${PSQL[@]}" -c "SELECT string_agg(id::text, ' ' ORDER BY id) FROM import_jobs")

# --- request lists -----------------------------------------------------------------------------
# Values come from the stored rows (a sample of each import), so every request finds something.
enc() { jq -rn --arg v "$1" '$v|@uri'; }
# one typo in the longest word of an address: two letters swapped, one dropped or one changed
typo() {
	awk -v s="$1" -v k="$2" 'BEGIN {
		n = split(s, w, " "); best = 1
		for (i = 1; i <= n; i++) if (length(w[i]) > length(w[best])) best = i
		x = w[best]; L = length(x)
		if (L >= 4) {
			p = 2 + (k % (L - 2))
			if (k % 3 == 0) x = substr(x, 1, p - 1) substr(x, p + 1, 1) substr(x, p, 1) substr(x, p + 2)
			else if (k % 3 == 1) x = substr(x, 1, p - 1) substr(x, p + 1)
			else x = substr(x, 1, p - 1) "q" substr(x, p + 1)
		}
		w[best] = x; out = w[1]
		for (i = 2; i <= n; i++) out = out " " w[i]
		print out
	}'
}
for l in $LISTS; do : >"$WORK/$l.paths"; done
k=0
for job in $JOBS; do
	while IFS=$'\t' read -r addr city zip sid price; do
		k=$((k + 1))
		base="/api/imports/$job/properties?limit=100"
		echo "$base" >>"$WORK/page.paths"
		echo "$base&q=$(enc "$(typo "$addr" $k)")" >>"$WORK/q.paths"
		echo "$base&q=$(enc "${city:0:4}")" >>"$WORK/q.paths"
		echo "$base&q=$(enc "$zip")" >>"$WORK/q.paths"
		echo "$base&q=$(enc "$sid")" >>"$WORK/q.paths"
		lo=$(awk -v p="$price" 'BEGIN { printf "%d", p * 0.8 }')
		hi=$(awk -v p="$price" 'BEGIN { printf "%d", p * 1.2 }')
		echo "$base&price_min=$lo&price_max=$hi" >>"$WORK/filter.paths"
		echo "$base&beds_min=3&baths_min=2&sqft_min=1500" >>"$WORK/filter.paths"
		echo "$base&zip=$(enc "$zip")&year_min=1980" >>"$WORK/filter.paths"
		echo "$base&city=$(enc "$city")&status=active" >>"$WORK/filter.paths"
		echo "$base&outlier=true" >>"$WORK/filter.paths"
		for s in price sqft year_built listed_on price_per_sqft row; do
			echo "$base&sort=$s&price_min=$lo" >>"$WORK/sort.paths"
			echo "$base&sort=-$s&beds_min=2" >>"$WORK/sort.paths"
		done
		echo "/api/properties?limit=100&q=$(enc "$(typo "$addr" $k)")" >>"$WORK/all.paths"
		echo "/api/properties?limit=100&price_min=$lo&price_max=$hi&sort=-price" >>"$WORK/all.paths"
		echo "/api/properties?limit=100&zip=$(enc "$zip")&sort=sqft" >>"$WORK/all.paths"
	done < <("${PSQL[@]}" -F $'\t' -c "SELECT address, city, zip, source_id, price FROM property_records
		WHERE job_id = $job AND address IS NOT NULL AND city IS NOT NULL AND zip IS NOT NULL
		AND source_id IS NOT NULL AND price > 0 ORDER BY row_no LIMIT 20")
done
# every path must answer 200 before it is timed
for l in $LISTS; do
	[ -s "$WORK/$l.paths" ] || die "no requests for list $l"
	bad=0
	while read -r p; do
		code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$URL$p")
		if [ "$code" != 200 ]; then
			echo "search.sh: $code for $p" >&2
			bad=$((bad + 1))
		fi
	done < <(awk 'NR % 7 == 1' "$WORK/$l.paths")
	[ "$bad" = 0 ] || die "list $l: $bad requests did not answer 200"
done

# --- wrk ---------------------------------------------------------------------------------------
: >"$OUT/runs.tsv"
for r in $(seq 1 "$REPEAT"); do
	for l in $LISTS; do
		PF_TOKEN=$TOKEN PF_PATHS=$WORK/$l.paths wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" \
			--timeout 5s --latency -s "$ROOT/bench/wrk/paths.lua" "$URL" >"$OUT/wrk-$l-$r.txt" 2>&1
		line=$(grep '^paths.lua: result' "$OUT/wrk-$l-$r.txt")
		[ -n "$line" ] || die "wrk gave no result for $l (see $OUT/wrk-$l-$r.txt)"
		echo -e "$l\t$r\t${line#paths.lua: result }" >>"$OUT/runs.tsv"
		echo "search.sh: $l run $r: ${line#paths.lua: result }" >&2
	done
done

# --- report ------------------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
field() { # list key
	awk -F'\t' -v l="$1" '$1 == l { print $3 }' "$OUT/runs.tsv" | tr ' ' '\n' |
		awk -F= -v k="$2" '$1 == k { print $2 }' | median
}
{
	echo "search.sh: $TOTAL rows ($IMPORTS imports of $ROWS), wrk -t$THREADS -c$CONNS -d$DURATION," \
		"medians of $REPEAT runs, $(date -u +%Y-%m-%d)"
	echo
	echo "| list | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | errors |"
	echo "|---|---|---|---|---|---|---|"
	for l in $LISTS; do
		echo "| $l | $(field "$l" rps) | $(field "$l" p50) | $(field "$l" p90) | $(field "$l" p99) |" \
			"$(field "$l" non2xx) | $(field "$l" errors) |"
	done
} | tee "$OUT/search.md"
