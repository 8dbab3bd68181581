#!/usr/bin/env bash
# bench/run.sh - times propflow's import paths against a plain psql \copy of the same rows.
#
# For each size: generates a messy export with bench/gen.mjs (plus the same rows already normalised
# for COPY), starts a private PostgreSQL (initdb in a temp dir, Unix socket only, default settings,
# fsync on), then times, --repeat times each and interleaved so drift hits every method alike:
#   copy      psql \copy of records.tsv + raw.tsv (typed columns + original row as jsonb) into tables
#             indexed like propflow's (bench/schema_copy.sql), one psql session, both timed together
#   import    propflow import FILE --db ... --json (wall time of the whole command)
#   http      propflow serve; upload with curl (chunked by default) to POST /api/imports, then poll
#             GET /api/imports/ID until done; time from upload start to done; server peak RSS (VmHWM)
#   pgloader  pgloader of the raw CSV into a table of text columns (no normalising), if installed
# and prints a markdown table of medians (also written to OUT/results.md; every run in OUT/runs.tsv,
# logs in OUT/logs/).
#
# With --batch-sweep "100 250 ...", it instead times only `propflow import` of one file (300K rows
# unless --rows says otherwise) with each --batch-rows value, interleaved, and reports each value's
# median, spread and peak RSS plus the smallest value within --sweep-tolerance % of the fastest
# (OUT/sweep.md, every run in OUT/sweep.tsv).
#
# usage: bench/run.sh [--rows "30000 300000"] [--out bench/out] [--repeat 3] [options]; --help lists all.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
ROWS="30000 300000"
OUT="$ROOT/bench/out"
REPEAT=3
DIALECT=mls
SEED=1
BAD_ROWS=10
METHODS="copy import http pgloader"
PROPFLOW=${PROPFLOW:-}
PGLOADER_MODE=auto
UPLOAD=chunked
BATCH_ROWS=
SWEEP=
SWEEP_TOL=5
ROWS_SET=0
KEEP=0
POLL_S=0.02
TIMEOUT_S=1800

usage() {
	cat <<EOF
usage: bench/run.sh [options]
  --rows "N ..."        sizes to run (default "$ROWS")
  --out DIR             results directory (default bench/out)
  --repeat R            timed runs per method and size; the median is reported (default $REPEAT)
  --dialect D           gen.mjs dialect: mls county zillow mixed (default $DIALECT)
  --seed S              gen.mjs seed (default $SEED)
  --bad-rows K          rows with a wrong field count in each file (default $BAD_ROWS)
  --methods "M ..."     subset of: copy import http pgloader (default all)
  --propflow PATH       propflow binary (default \$PROPFLOW, else build/propflow)
  --batch-rows N        passed to propflow (default: propflow's own)
  --batch-sweep "N ..." time only propflow import, once per --batch-rows value in the list, on one
                        file (default --rows 300000); writes OUT/sweep.md and OUT/sweep.tsv
  --sweep-tolerance P   the sweep recommends the smallest batch within P % of the fastest median
                        (default $SWEEP_TOL)
  --upload MODE         chunked (Transfer-Encoding: chunked) or length (Content-Length) (default chunked)
  --pgloader MODE       auto: run it if installed; yes: install it with apt-get when missing (root);
                        no: skip (default auto)
  --keep                keep the work directory (generated files, PostgreSQL data)
EOF
}

die() {
	echo "run.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--rows) ROWS=$2; ROWS_SET=1; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--repeat) REPEAT=$2; shift 2 ;;
	--dialect) DIALECT=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--bad-rows) BAD_ROWS=$2; shift 2 ;;
	--methods) METHODS=$2; shift 2 ;;
	--propflow) PROPFLOW=$2; shift 2 ;;
	--batch-rows) BATCH_ROWS=$2; shift 2 ;;
	--batch-sweep) SWEEP=$2; shift 2 ;;
	--sweep-tolerance) SWEEP_TOL=$2; shift 2 ;;
	--upload) UPLOAD=$2; shift 2 ;;
	--pgloader) PGLOADER_MODE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option $1" ;;
	esac
done
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "--repeat must be a positive integer"
case "$UPLOAD" in chunked | length) ;; *) die "--upload must be chunked or length" ;; esac
case "$PGLOADER_MODE" in auto | yes | no) ;; *) die "--pgloader must be auto, yes or no" ;; esac
for m in $METHODS; do
	case "$m" in copy | import | http | pgloader) ;; *) die "unknown method $m" ;; esac
done
if [ -n "$SWEEP" ]; then
	for b in $SWEEP; do [[ $b =~ ^[1-9][0-9]*$ ]] || die "bad --batch-sweep value $b"; done
	[[ $SWEEP_TOL =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--sweep-tolerance must be a number (percent)"
	[ -z "$BATCH_ROWS" ] || die "--batch-rows and --batch-sweep exclude each other"
	METHODS=import
	[ "$ROWS_SET" = 1 ] || ROWS=300000
fi
for n in $ROWS; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "bad --rows value $n"; done
has_method() { [[ " $METHODS " == *" $1 "* ]]; }

for tool in node psql curl jq awk; do
	command -v "$tool" >/dev/null || die "$tool is needed (apt-get install nodejs postgresql-client curl jq)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL server binaries not found (set PG_BIN; apt-get install postgresql)"

if [ -z "$PROPFLOW" ]; then
	PROPFLOW="$ROOT/build/propflow"
fi
PF_OK=1
PF_NOTE=
if ! [ -x "$PROPFLOW" ]; then
	PF_OK=0
	PF_NOTE="propflow not built ($PROPFLOW): meson setup build && meson compile -C build"
elif ! grep -q import <<<"$("$PROPFLOW" --help 2>&1)"; then
	# (not `--help | grep -q`: with pipefail, grep leaving early fails the pipe by SIGPIPE)
	PF_OK=0
	PF_NOTE="$PROPFLOW --help does not list the import command: not the full server yet"
fi

PGL_OK=0
PGL_NOTE=
if has_method pgloader; then
	if [ "$PGLOADER_MODE" = no ]; then
		PGL_NOTE="pgloader skipped (--pgloader no)"
	elif command -v pgloader >/dev/null; then
		PGL_OK=1
	elif [ "$PGLOADER_MODE" = yes ] && [ "$(id -u)" = 0 ]; then
		echo "run.sh: installing pgloader" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgloader >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgloader >/dev/null 2>&1; }
		command -v pgloader >/dev/null && PGL_OK=1 || PGL_NOTE="pgloader could not be installed"
	else
		cand=$(apt-cache policy pgloader 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then
			PGL_NOTE="pgloader not installed (Debian has $cand: apt-get install pgloader, or --pgloader yes)"
		else
			PGL_NOTE="pgloader not installed and not available from apt"
		fi
	fi
fi

# ------------------------------------------------------------------ work dir, cleanup
WORK=$(mktemp -d /tmp/pfbench.XXXXXX) || die "mktemp failed"
chmod 755 "$WORK"
mkdir -p "$OUT/logs" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
LOGS="$OUT/logs"
PGDATA="$WORK/pg"
SOCK="$WORK/sock"
SPID=
PG_STARTED=0
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user"
	AS_PG=(runuser -u postgres --)
else
	AS_PG=()
fi

stop_server() { bench_stop_server run.sh; }

# Long commands run in the background and are waited for, so that a signal is handled at once
# (bash runs traps only between foreground commands) and cleanup can stop them.
CHILD=
run_child() {
	"$@" <&0 &
	CHILD=$!
	wait "$CHILD"
	local rc=$?
	CHILD=
	return $rc
}

stop_child() {
	[ -n "$CHILD" ] || return 0
	local kids
	kids=$(ps -o pid= --ppid "$CHILD" 2>/dev/null)
	kill -TERM $kids "$CHILD" 2>/dev/null
	wait "$CHILD" 2>/dev/null
	CHILD=
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_child
	stop_server
	if [ "$PG_STARTED" = 1 ]; then
		"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			echo "run.sh: could not stop PostgreSQL in $PGDATA" >&2
		cp "$WORK/pglog/pg.log" "$LOGS/postgresql.log" 2>/dev/null
	fi
	if [ "$KEEP" = 1 ]; then
		echo "run.sh: work directory kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ PostgreSQL
mkdir -p "$PGDATA" "$SOCK" "$WORK/pglog" "$WORK/data" "$WORK/pfdata"
chmod 700 "$PGDATA"
if [ "$(id -u)" = 0 ]; then
	chown postgres:postgres "$PGDATA" "$SOCK" "$WORK/pglog"
fi
echo "run.sh: initdb in $PGDATA" >&2
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --no-locale \
	>"$LOGS/initdb.log" 2>&1 || die "initdb failed: see $LOGS/initdb.log"
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$WORK/pglog/pg.log" -w -t 60 \
	-o "-k $SOCK -c listen_addresses=''" start >/dev/null ||
	die "PostgreSQL did not start: $(tail -n 5 "$WORK/pglog/pg.log")"
PG_STARTED=1

PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -U postgres)
export PGOPTIONS="-c client_min_messages=warning"
"${PSQL[@]}" -d postgres -c "CREATE DATABASE bench_copy" -c "CREATE DATABASE bench_pf" ||
	die "cannot create the databases"
PF_CONN="host=$SOCK dbname=bench_pf user=postgres"
PG_VERSION=$("${PSQL[@]}" -d postgres -At -c "SHOW server_version")

# ------------------------------------------------------------------ helpers
# peak RSS in KB of a command (via GNU time when present)
TIME_BIN=
[ -x /usr/bin/time ] && TIME_BIN=/usr/bin/time
timed_rss() { # rssfile cmd...
	local rssf=$1
	shift
	if [ -n "$TIME_BIN" ]; then
		"$TIME_BIN" -f %M -o "$rssf" "$@"
	else
		: >"$rssf"
		"$@"
	fi
}
read_rss() { [ -s "$1" ] && tail -n 1 "$1" | tr -dc 0-9 || true; }

checkpoint() {
	"${PSQL[@]}" -d "$1" -c CHECKPOINT >/dev/null 2>&1 || true
}

# empties propflow's tables (keeps the migrations record) so each run starts alike
pf_reset() {
	"${PSQL[@]}" -d bench_pf >/dev/null <<'SQL' || return 1
DO $$
DECLARE t text;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables
           WHERE schemaname = 'public' AND tablename NOT ILIKE '%migration%'
  LOOP
    EXECUTE format('TRUNCATE %I RESTART IDENTITY CASCADE', t);
  END LOOP;
END $$;
SQL
	checkpoint bench_pf
}

RUNS="$OUT/runs.tsv"
[ -z "$SWEEP" ] || RUNS="$OUT/sweep.tsv"
printf 'rows\tmethod\trepeat\tseconds\tpeak_rss_kb\tok\tnote\tbatch_rows\n' >"$RUNS"
record() { # rows method repeat seconds rss ok note (batch_rows appended: the value passed, or "default")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "${BATCH_ROWS:-default}" >>"$RUNS"
}

# ------------------------------------------------------------------ the methods
# Each prints nothing on success and sets R_SECS, R_RSS, R_NOTE; returns non-zero on failure.

run_copy() { # n file dir expected
	local n=$1 dir=$3 expected=$4 log="$LOGS/copy-$1-$REP.log" t0 t1 got
	"${PSQL[@]}" -d bench_copy -f "$ROOT/bench/schema_copy.sql" >"$log" 2>&1 ||
		{ R_NOTE="schema_copy.sql failed"; return 1; }
	checkpoint bench_copy
	t0=$(now)
	run_child timed_rss "$WORK/rss" "${PSQL[@]}" -d bench_copy >>"$log" 2>&1 <<EOF
\\copy bench_records (job_id, row_no, line_no, source_id, address, city, state, zip, price, beds, baths, sqft, lot_sqft, year_built, property_type, status, listed_on, sold_on, latitude, longitude) from '$dir/records.tsv'
\\copy bench_raw (job_id, row_no, data) from '$dir/raw.tsv'
EOF
	local rc=$?
	t1=$(now)
	R_SECS=$(elapsed "$t0" "$t1")
	R_RSS=$(read_rss "$WORK/rss")
	[ $rc = 0 ] || { R_NOTE="psql failed: $(tail -n 2 "$log" | tr '\n' ' ')"; return 1; }
	got=$("${PSQL[@]}" -d bench_copy -At -c "SELECT (SELECT count(*) FROM bench_records) || ' ' || (SELECT count(*) FROM bench_raw)")
	[ "$got" = "$expected $expected" ] || { R_NOTE="loaded $got rows, expected $expected"; return 1; }
	R_NOTE=
}

pf_args() {
	PF_ARGS=(--db "$PF_CONN" --data-dir "$WORK/pfdata")
	[ -n "$BATCH_ROWS" ] && PF_ARGS+=(--batch-rows "$BATCH_ROWS")
	return 0
}

check_job() { # job.json expected
	local state ins
	state=$(jq -r '.state // empty' "$1" 2>/dev/null)
	ins=$(jq -r '.rows_inserted // empty' "$1" 2>/dev/null)
	[ "$state" = 'done' ] || { R_NOTE="job state '${state}' $(jq -c '.error // empty' "$1" 2>/dev/null)"; return 1; }
	[ "$ins" = "$2" ] || { R_NOTE="rows_inserted $ins, expected $2"; return 1; }
	return 0
}

run_import() { # n file dir expected
	local n=$1 file=$2 expected=$4 tag="$1${BATCH_ROWS:+-b$BATCH_ROWS}-$REP" t0 t1 rc
	local log="$LOGS/import-$tag.log"
	pf_reset || { R_NOTE="could not empty propflow's tables"; return 1; }
	pf_args
	t0=$(now)
	run_child timed_rss "$WORK/rss" "$PROPFLOW" import "$file" --name "bench-$n.csv" --json "${PF_ARGS[@]}" \
		>"$WORK/job.json" 2>"$log"
	rc=$?
	t1=$(now)
	R_SECS=$(elapsed "$t0" "$t1")
	R_RSS=$(read_rss "$WORK/rss")
	cp "$WORK/job.json" "$LOGS/import-$tag.json"
	[ $rc = 0 ] || { R_NOTE="exit $rc: $(tail -n 2 "$log" | tr '\n' ' ')"; return 1; }
	check_job "$WORK/job.json" "$expected" || return 1
	R_NOTE=
}

start_server() { # log
	: >"$WORK/serve.out"
	pf_args
	"$PROPFLOW" serve --listen 127.0.0.1:0 "${PF_ARGS[@]}" >"$WORK/serve.out" 2>"$1" &
	SPID=$!
	URL=$(bench_wait_listening "$WORK/serve.out" 600)
	case $? in
	1) R_NOTE="server exited: $(tail -n 2 "$1" | tr '\n' ' ')"; SPID=; return 1 ;;
	2) R_NOTE="server did not print its address in 60 s"; return 1 ;;
	esac
	# pf_reset emptied the users: serve made a new admin on its first run
	TOKEN=$("$PROPFLOW" user token admin "${PF_ARGS[@]}" 2>>"$1" | tail -n 1)
	[ -n "$TOKEN" ] || { R_NOTE="propflow user token admin failed: $(tail -n 2 "$1" | tr '\n' ' ')"; return 1; }
	return 0
}

run_http() { # n file dir expected
	local n=$1 file=$2 expected=$4 log="$LOGS/http-$1-$REP.log" t0 t1 code id state deadline
	pf_reset || { R_NOTE="could not empty propflow's tables"; return 1; }
	start_server "$log" || { stop_server; return 1; }
	local up=(-X POST -T "$file" -H 'Content-Type: text/csv' -H "Authorization: Bearer $TOKEN")
	[ "$UPLOAD" = chunked ] && up+=(-H 'Transfer-Encoding: chunked')
	t0=$(now)
	run_child curl -sS -o "$WORK/resp.json" -w '%{http_code}' "${up[@]}" "$URL/api/imports?name=bench-$n.csv" \
		>"$WORK/code" 2>>"$log"
	code=$(cat "$WORK/code")
	if [ "$code" != 202 ]; then
		R_NOTE="upload answered HTTP $code: $(head -c 200 "$WORK/resp.json" 2>/dev/null)"
		stop_server
		return 1
	fi
	id=$(jq -r .id "$WORK/resp.json")
	deadline=$(awk -v t="$t0" -v d="$TIMEOUT_S" 'BEGIN { printf "%d", t + d }')
	while :; do
		curl -sS -o "$WORK/job.json" -H "Authorization: Bearer $TOKEN" "$URL/api/imports/$id" 2>>"$log"
		state=$(jq -r '.state // empty' "$WORK/job.json" 2>/dev/null)
		case "$state" in
		done | failed | interrupted | cancelled) break ;;
		esac
		if [ "${EPOCHREALTIME%.*}" -gt "$deadline" ]; then
			state=timeout
			break
		fi
		sleep "$POLL_S"
	done
	t1=$(now)
	R_SECS=$(elapsed "$t0" "$t1")
	R_RSS=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SPID/status" 2>/dev/null)
	cp "$WORK/job.json" "$LOGS/http-$n-$REP.json"
	stop_server
	[ "$state" != timeout ] || { R_NOTE="not done after ${TIMEOUT_S} s"; return 1; }
	check_job "$WORK/job.json" "$expected" || return 1
	R_NOTE=
}

run_pgloader() { # n file dir expected
	local n=$1 file=$2 log="$LOGS/pgloader-$1-$REP.log" t0 t1 rc cols i enc delim got
	local ncols
	ncols=$(jq '.headers | length' "$META")
	enc=$(jq -r '.encoding' "$META")
	[ "$enc" = windows-1252 ] && enc=latin1
	delim=$(jq -r '.delimiter' "$META")
	[ "$delim" = $'\t' ] && delim='\t'
	cols=
	for i in $(seq 1 "$ncols"); do cols+="${cols:+, }c$i"; done
	"${PSQL[@]}" -d bench_copy -c "DROP TABLE IF EXISTS pgl_raw" \
		-c "CREATE TABLE pgl_raw ($(seq 1 "$ncols" | sed 's/.*/c& text/' | paste -sd, -))" \
		>"$log" 2>&1 || { R_NOTE="could not create pgl_raw"; return 1; }
	checkpoint bench_copy
	cat >"$WORK/load.pgl" <<EOF
LOAD CSV
  FROM '$file' WITH ENCODING $enc ($cols)
  INTO postgresql://postgres@unix:$SOCK:5432/bench_copy
  TARGET TABLE pgl_raw ($cols)
  WITH skip header = 1,
       fields optionally enclosed by '"',
       fields escaped by double-quote,
       fields terminated by '$delim';
EOF
	t0=$(now)
	run_child timed_rss "$WORK/rss" pgloader --no-ssl-cert-verification "$WORK/load.pgl" >>"$log" 2>&1
	rc=$?
	t1=$(now)
	R_SECS=$(elapsed "$t0" "$t1")
	R_RSS=$(read_rss "$WORK/rss")
	[ $rc = 0 ] || { R_NOTE="pgloader exit $rc: $(grep -m 1 -i error "$log" | head -c 200)"; return 1; }
	got=$("${PSQL[@]}" -d bench_copy -At -c "SELECT count(*) FROM pgl_raw")
	R_NOTE="$got rows loaded as text"
}

# ------------------------------------------------------------------ run
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD 2>/dev/null || GIT_REV="$GIT_REV+dirty"
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -A SIZE_BYTES EXPECTED_ROWS

if [ "$PF_OK" = 1 ] && { has_method import || has_method http; }; then
	# apply propflow's migrations once, outside the timings
	printf 'MLS #,Price\n1,100\n' >"$WORK/warmup.csv"
	pf_args
	"$PROPFLOW" import "$WORK/warmup.csv" --json "${PF_ARGS[@]}" >"$LOGS/warmup.json" 2>"$LOGS/warmup.log" ||
		{ PF_OK=0; PF_NOTE="propflow import of a 1-row file failed: see $LOGS/warmup.log"; }
fi
[ "$PF_OK" = 1 ] || [ -z "$SWEEP" ] || die "$PF_NOTE: nothing to sweep"
[ "$PF_OK" = 1 ] || echo "run.sh: $PF_NOTE: propflow methods skipped" >&2
[ -z "$PGL_NOTE" ] || echo "run.sh: $PGL_NOTE" >&2

for n in $ROWS; do
	file="$WORK/data/bench-$n.csv"
	dir="$WORK/data/copy-$n"
	META="$WORK/data/bench-$n.meta.json"
	echo "run.sh: generating $n rows ($DIALECT, seed $SEED, $BAD_ROWS bad rows)" >&2
	GEN_COPY=()
	has_method copy && GEN_COPY=(--copy-dir "$dir")
	run_child node "$ROOT/bench/gen.mjs" --rows "$n" --dialect "$DIALECT" --seed "$SEED" --bad-rows "$BAD_ROWS" \
		--out "$file" "${GEN_COPY[@]}" --meta "$META" 2>>"$LOGS/gen.log" || die "gen.mjs failed: see $LOGS/gen.log"
	SIZE_BYTES[$n]=$(stat -c %s "$file")
	expected=$(jq .expected.rows_inserted "$META")
	EXPECTED_ROWS[$n]=$expected
	if [ -n "$SWEEP" ]; then
		read -r -a SW <<<"$SWEEP"
		for REP in $(seq 1 "$REPEAT"); do
			# every value, in an order rotated by one each repeat so none always runs first
			for i in $(seq 0 $((${#SW[@]} - 1))); do
				BATCH_ROWS=${SW[$(((i + REP - 1) % ${#SW[@]}))]}
				R_SECS='' R_RSS='' R_NOTE=''
				if run_import "$n" "$file" "$dir" "$expected"; then ok=1; else ok=0; fi
				record "$n" import "$REP" "${R_SECS:-}" "${R_RSS:-}" "$ok" "${R_NOTE:-}"
				printf 'run.sh: import --batch-rows %-6s %8s rows  run %d/%d  %8s s  rss %6s KB  %s %s\n' \
					"$BATCH_ROWS" "$n" "$REP" "$REPEAT" "${R_SECS:--}" "${R_RSS:--}" \
					"$([ $ok = 1 ] && echo ok || echo FAILED)" "${R_NOTE:-}" >&2
				BATCH_ROWS=
			done
		done
		continue
	fi
	for REP in $(seq 1 "$REPEAT"); do
		for m in $METHODS; do
			case "$m" in
			import | http) [ "$PF_OK" = 1 ] || continue ;;
			pgloader) [ "$PGL_OK" = 1 ] || continue ;;
			esac
			R_SECS='' R_RSS='' R_NOTE=''
			if "run_$m" "$n" "$file" "$dir" "$expected"; then
				ok=1
			else
				ok=0
			fi
			record "$n" "$m" "$REP" "${R_SECS:-}" "${R_RSS:-}" "$ok" "${R_NOTE:-}"
			printf 'run.sh: %-8s %8s rows  run %d/%d  %8s s  rss %6s KB  %s %s\n' "$m" "$n" "$REP" "$REPEAT" \
				"${R_SECS:--}" "${R_RSS:--}" "$([ $ok = 1 ] && echo ok || echo FAILED)" "${R_NOTE:-}" >&2
		done
	done
done

# ------------------------------------------------------------------ report
if [ -n "$SWEEP" ]; then
	PF_DEFAULT=$("$PROPFLOW" --help 2>&1 | sed -n 's/^ *--batch-rows .*\[\([0-9]*\)\].*/\1/p')
	for n in $ROWS; do
		echo "| --batch-rows | seconds (median of $REPEAT) | all runs | rows/s | × fastest | peak RSS (max) |"
		echo "|---:|---:|---|---:|---:|---:|"
		awk -F'\t' -v n="$n" -v sweep="$SWEEP" -v tol="$SWEEP_TOL" -v def="$PF_DEFAULT" '
			NR > 1 && $1 == n { b = $8; runs[b]++
			                    if ($6 == 1) { t[b, ++ok[b]] = $4 } else { fails[b]++; note[b] = $7 }
			                    if ($5 + 0 > rss[b]) rss[b] = $5 + 0 }
			END {
				k = split(sweep, bs, " ")
				best = 0
				for (i = 1; i <= k; i++) {
					b = bs[i]; c = ok[b]
					if (!c) continue
					for (x = 2; x <= c; x++) { v = t[b, x]; for (y = x - 1; y >= 1 && t[b, y] > v; y--) t[b, y + 1] = t[b, y]; t[b, y + 1] = v }
					med[b] = (c % 2) ? t[b, (c + 1) / 2] : (t[b, c / 2] + t[b, c / 2 + 1]) / 2
					all[b] = t[b, 1]; for (x = 2; x <= c; x++) all[b] = all[b] " " t[b, x]
					if (!best || med[b] < best) { best = med[b]; fastest = b }
				}
				pick = ""
				for (i = 1; i <= k; i++) {
					b = bs[i]
					if (!(b in med)) { printf "| %s%s | failed: %s | | | | |\n", b, (b == def) ? " (default)" : "", note[b]; continue }
					extra = fails[b] ? sprintf(" (%d of %d runs failed)", fails[b], runs[b]) : ""
					printf "| %s%s | %.3f%s | %s | %.0f | %.3f | %.1f MB |\n", b, (b == def) ? " (default)" : "", med[b], extra,
						all[b], n / med[b], med[b] / best, rss[b] / 1024
					if (med[b] <= best * (1 + tol / 100) && (pick == "" || b + 0 < pick + 0)) pick = b
				}
				printf "\nFastest median: --batch-rows %s (%.3f s). Smallest value within %s%% of it: **%s**", fastest, best, tol, pick
				if (def != "") printf " (propflow default: %s)", def
				printf ".\n"
			}' "$RUNS"
		echo
	done >"$WORK/sweep.md"
	{
		echo "# propflow batch-size sweep"
		echo
		echo "Run of $STARTED on $(nproc) CPU(s) ${CPU:+($CPU)}, PostgreSQL $PG_VERSION (default settings, fsync on),"
		echo "propflow $GIT_REV. \`propflow import FILE --json --db ... --batch-rows N\`, wall time of the command,"
		echo "values interleaved (order rotated each repeat), tables emptied and CHECKPOINT before each run."
		echo "Dialect $DIALECT, seed $SEED, $BAD_ROWS bad rows;"
		for n in $ROWS; do
			echo "$n rows: $(awk -v b="${SIZE_BYTES[$n]}" 'BEGIN { printf "%.1f MB", b / 1048576 }') CSV, ${EXPECTED_ROWS[$n]} rows stored."
		done
		echo
		cat "$WORK/sweep.md"
		echo "Peak RSS is the \`propflow import\` process's maximum resident set (GNU time %M)."
		echo "Every run: sweep.tsv; logs and final job objects: logs/import-ROWS-bBATCH-REPEAT.*."
	} >"$OUT/sweep.md"
	echo
	cat "$WORK/sweep.md"
	echo "run.sh: results in $OUT/sweep.md" >&2
	if awk -F'\t' 'NR > 1 && $6 == 0 { bad = 1 } END { exit !bad }' "$RUNS"; then
		echo "run.sh: some runs failed: see $RUNS" >&2
		exit 1
	fi
	exit 0
fi

label() {
	case "$1" in
	copy) echo 'psql \copy (typed + jsonb)' ;;
	import) echo 'propflow import' ;;
	http) echo "HTTP upload ($UPLOAD) to done" ;;
	pgloader) echo 'pgloader (raw text columns)' ;;
	esac
}

{
	echo "| method | rows | seconds (median of $REPEAT) | rows/s | × \\copy | peak RSS |"
	echo "|---|---:|---:|---:|---:|---:|"
	for n in $ROWS; do
		base=$(awk -F'\t' -v n="$n" '$1 == n && $2 == "copy" && $6 == 1 { print $4 }' "$RUNS" | sort -g |
			awk '{ a[NR] = $1 } END { if (NR) print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
		for m in $METHODS; do
			awk -F'\t' -v n="$n" -v m="$m" -v base="$base" -v label="$(label "$m")" -v rep="$REPEAT" '
				$1 == n && $2 == m { runs++; if ($6 == 1) { s[++ok] = $4 } else { fails++; note = $7 }
				                     if ($5 + 0 > rss) rss = $5 + 0 }
				END {
					if (!runs) exit
					if (!ok) { printf "| %s | %d | failed: %s | | | |\n", label, n, note; exit }
					# sort the successful times (few values: insertion sort)
					for (i = 2; i <= ok; i++) { v = s[i]; for (j = i - 1; j >= 1 && s[j] > v; j--) s[j + 1] = s[j]; s[j + 1] = v }
					med = (ok % 2) ? s[(ok + 1) / 2] : (s[ok / 2] + s[ok / 2 + 1]) / 2
					ratio = (base > 0) ? sprintf("%.2f", med / base) : "-"
					mem = rss ? sprintf("%.1f MB", rss / 1024) : "-"
					extra = fails ? sprintf(" (%d of %d runs failed)", fails, runs) : ""
					printf "| %s | %d | %.3f%s | %.0f | %s | %s |\n", label, n, med, extra, n / med, ratio, mem
				}' "$RUNS"
		done
	done
} >"$WORK/table.md"

{
	echo "# propflow bench results"
	echo
	echo "Run of $STARTED on $(nproc) CPU(s) ${CPU:+($CPU)}, PostgreSQL $PG_VERSION (default settings, fsync on),"
	echo "propflow $GIT_REV${BATCH_ROWS:+, --batch-rows $BATCH_ROWS}. Dialect $DIALECT, seed $SEED, $BAD_ROWS bad rows per file."
	echo
	cat "$WORK/table.md"
	echo
	for n in $ROWS; do
		echo "- $n rows: $(awk -v b="${SIZE_BYTES[$n]}" 'BEGIN { printf "%.1f MB", b / 1048576 }') CSV, ${EXPECTED_ROWS[$n]} rows stored (the bad rows are rejected)."
	done
	echo "- rows/s counts the file's records; × \\copy is seconds over the \\copy median (lower is better)."
	echo "- peak RSS: the loading client for \\copy (psql), propflow import and pgloader; the server's VmHWM for HTTP."
	[ "$PF_OK" = 1 ] || echo "- propflow methods skipped: $PF_NOTE"
	[ -z "$PGL_NOTE" ] || echo "- $PGL_NOTE"
	echo "- every run: runs.tsv; logs and final job objects: logs/."
} >"$OUT/results.md"

echo
cat "$WORK/table.md"
echo
echo "run.sh: results in $OUT/results.md" >&2

# non-zero when any timed run failed, so scripts and CI notice
if awk -F'\t' 'NR > 1 && $6 == 0 { bad = 1 } END { exit !bad }' "$RUNS"; then
	echo "run.sh: some runs failed: see $RUNS" >&2
	exit 1
fi
