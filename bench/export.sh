#!/usr/bin/env bash
# bench/export.sh - the CSV export of a big import against psql's \copy of the same columns.
#
# Starts `propflow serve` on a fresh data dir (embedded PostgreSQL), uploads a generated file of
# --rows rows (bench/gen.mjs, mls dialect) with curl, waits for the import, then --repeat times,
# interleaved so that drift hits both alike:
#   export  curl of GET /api/imports/ID/export?format=csv (to /dev/null): wall time, bytes; the
#           server's VmRSS sampled every 50 ms during the download, against its VmRSS before; and
#           the server's peak (VmHWM) at the end against its RSS before the first export
#   copy    psql -c "\copy (SELECT <the 17 fields> FROM property_records WHERE job_id = ID AND
#           gen = <the import's> ORDER BY row_no) TO STDOUT WITH CSV HEADER" (to /dev/null)
# and prints medians (rows/s, MB/s, the export's rate as a fraction of \copy's, RSS growth), also
# written to OUT/export.md.
#
# With --data-dir DIR (kept from an earlier run with --keep: WORK/data) the server runs on that
# data dir and its newest import is timed again: no generating, no upload.
#
# usage: bench/export.sh [--rows 1000000] [--repeat 3] [--out bench/out] [--propflow PATH] [--keep]
#                        [--data-dir DIR]
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
ROWS=1000000
REPEAT=3
OUT="$ROOT/bench/out"
PROPFLOW=${PROPFLOW:-$ROOT/build/propflow}
KEEP=0
REUSE=

die() {
	echo "export.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--rows) ROWS=$2; shift 2 ;;
	--repeat) REPEAT=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--propflow) PROPFLOW=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--data-dir) REUSE=$2; shift 2 ;;
	-h | --help) sed -n '2,18p' "$0"; exit 0 ;;
	*) die "unknown option $1 (--help)" ;;
	esac
done
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "bad --rows $ROWS"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "bad --repeat $REPEAT"
for tool in node psql curl jq awk; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done
[ -x "$PROPFLOW" ] || die "no propflow at $PROPFLOW (meson compile -C build)"

mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pf-export-bench.XXXXXX")
chmod 755 "$WORK"
SPID=
cleanup() {
	bench_stop_server export.sh
	[ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$REUSE" ]; then
	echo "export.sh: generating $ROWS rows" >&2
	node "$ROOT/bench/gen.mjs" --rows "$ROWS" --dialect mls --seed 1 --bad-rows 10 --quiet \
		--out "$WORK/in.csv" || die "gen.mjs failed"
	DATA_DIR="$WORK/data"
	mkdir -m 755 "$DATA_DIR"
else
	DATA_DIR=$REUSE
	[ -d "$DATA_DIR" ] || die "no data dir $DATA_DIR"
fi
"$PROPFLOW" serve --listen 127.0.0.1:0 --data-dir "$DATA_DIR" --static-dir "$ROOT/static" \
	>"$WORK/serve.out" 2>"$WORK/serve.err" &
SPID=$!
URL=$(bench_wait_listening "$WORK/serve.out" 900) || die "server did not start: $(tail -n 3 "$WORK/serve.err")"
TOKEN=$("$PROPFLOW" user token admin --data-dir "$DATA_DIR" 2>>"$WORK/cli.err" | tail -n 1)
[[ $TOKEN == pft_* ]] || die "no token: $(tail -n 2 "$WORK/cli.err")"
AUTH=(-H "Authorization: Bearer $TOKEN")

if [ -z "$REUSE" ]; then
	echo "export.sh: uploading $(stat -c %s "$WORK/in.csv") bytes" >&2
	ID=$(curl -sS "${AUTH[@]}" -X POST -T "$WORK/in.csv" -H 'Content-Type: text/csv' \
		"$URL/api/imports?name=bench.csv" | jq -r .id)
else
	ID=$(curl -sS "${AUTH[@]}" "$URL/api/imports" | jq -r '.items[0].id')
fi
[[ $ID =~ ^[0-9]+$ ]] || die "upload failed"
while :; do
	STATE=$(curl -sS "${AUTH[@]}" "$URL/api/imports/$ID" | jq -r .state)
	[ "$STATE" = done ] && break
	[ "$STATE" = failed ] && die "import failed"
	sleep 1
done
STORED=$(curl -sS "${AUTH[@]}" "$URL/api/imports/$ID" | jq -r .rows_inserted)
echo "export.sh: import $ID done, $STORED rows" >&2

CONN="host=$DATA_DIR/run user=postgres dbname=postgres"
COLS="source_id, address, city, state, zip, price, beds, baths, sqft, lot_sqft, year_built,"
COLS="$COLS property_type, status, listed_on, sold_on, latitude, longitude"
GEN=$(psql -X -qtA "$CONN" -c "SELECT gen FROM import_jobs WHERE id = $ID")
COPY="\\copy (SELECT $COLS FROM property_records WHERE job_id = $ID AND gen = $GEN ORDER BY row_no)"
COPY="$COPY TO STDOUT WITH CSV HEADER"

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SPID/status"; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$SPID/status"; }

IDLE=$(rss)
# warm both paths once (the table's pages in shared buffers / the page cache alike)
curl -sS -o /dev/null "${AUTH[@]}" "$URL/api/imports/$ID/export?format=csv"
psql -X -q "$CONN" -c "$COPY" >/dev/null

printf 'run\tmethod\tseconds\tbytes\trss_before_kb\trss_max_kb\n' >"$OUT/export.tsv"
for r in $(seq 1 "$REPEAT"); do
	# export, RSS sampled while it runs
	before=$(rss)
	max=$before
	t0=$(now)
	curl -sS -o /dev/null -w '%{size_download}\n' "${AUTH[@]}" \
		"$URL/api/imports/$ID/export?format=csv" >"$WORK/size" &
	CPID=$!
	while kill -0 "$CPID" 2>/dev/null; do
		v=$(rss)
		[ "$v" -gt "$max" ] && max=$v
		sleep 0.05
	done
	wait "$CPID"
	t1=$(now)
	printf '%s\texport\t%s\t%s\t%s\t%s\n' "$r" "$(elapsed "$t0" "$t1")" "$(cat "$WORK/size")" \
		"$before" "$max" >>"$OUT/export.tsv"
	# psql \copy of the same columns
	t0=$(now)
	bytes=$(psql -X -q "$CONN" -c "$COPY" | wc -c)
	t1=$(now)
	printf '%s\tcopy\t%s\t%s\t-\t-\n' "$r" "$(elapsed "$t0" "$t1")" "$bytes" >>"$OUT/export.tsv"
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
E=$(awk -F'\t' '$2 == "export" { print $3 }' "$OUT/export.tsv" | median)
C=$(awk -F'\t' '$2 == "copy" { print $3 }' "$OUT/export.tsv" | median)
EB=$(awk -F'\t' '$2 == "export" { print $4 }' "$OUT/export.tsv" | median)
CB=$(awk -F'\t' '$2 == "copy" { print $4 }' "$OUT/export.tsv" | median)
GROW=$(awk -F'\t' '$2 == "export" { print $6 - $5 }' "$OUT/export.tsv" | median)
GROWMAX=$(awk -F'\t' '$2 == "export" && $6 - $5 > m { m = $6 - $5 } END { print m + 0 }' "$OUT/export.tsv")
{
	echo "| $STORED rows, CSV | seconds (median of $REPEAT) | rows/s | MB/s | bytes |"
	echo "|---|---:|---:|---:|---:|"
	awk -v s="$E" -v n="$STORED" -v b="$EB" 'BEGIN { printf "| GET /api/imports/ID/export?format=csv | %.2f | %.0f | %.1f | %d |\n", s, n / s, b / s / 1e6, b }'
	awk -v s="$C" -v n="$STORED" -v b="$CB" 'BEGIN { printf "| psql \\\\copy (SELECT the 17 fields ...) TO STDOUT WITH CSV HEADER | %.2f | %.0f | %.1f | %d |\n", s, n / s, b / s / 1e6, b }'
	echo
	awk -v e="$E" -v c="$C" 'BEGIN { printf "export rate / \\copy rate (rows/s): %.2f\n", c / e }'
	echo "server RSS growth during an export: median $GROW kB, max $GROWMAX kB; idle server before" \
		"the first export $IDLE kB, peak (VmHWM) after all of them $(hwm) kB: $(($(hwm) - IDLE)) kB more"
} | tee "$OUT/export.md"
