#!/usr/bin/env bash
# bench/concurrent.sh - ten users at once: concurrent 30K-row uploads while another user browses.
#
# Starts `propflow serve` on an embedded database in a temp dir (or uses a running server: --url and
# --data-dir), creates a browsing user and --users uploaders with an API token each, generates one
# --rows file per user with bench/gen.mjs (different seeds), then:
#   0. warm-up: the browsing user imports a file (the data wrk browses)
#   A. lone import: the browsing user imports another file alone (--lone-repeat times; median);
#      time from the upload's start to the job's finished_at; rows/s
#   B. all uploaders at once (curl, chunked, each with its own token) while wrk runs
#      bench/wrk/browse.lua as the browsing user over its two imports; wrk is stopped when the last
#      import ends. Per upload: when its job was created and finished (server timestamps, relative
#      to the common start), when its first rows were seen (0.25 s polls), its rows; first/last
#      finish ratio, aggregate rows/s against the lone import's, wrk's latency percentiles, non-2xx
#      answers, socket errors and timeouts; CPU seconds of propflow, PostgreSQL and wrk.
# Checks every job ends done with exactly its file's rows, and that each user lists only their own
# import. Prints a markdown table (also OUT/concurrent.md; logs and wrk output in OUT/).
#
# usage: bench/concurrent.sh [--propflow PATH] [--users 10] [--rows 30000] [options]; --help lists all.
set -uo pipefail
ARGS=("$@")

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROPFLOW=${PROPFLOW:-$ROOT/build/propflow}
USERS=10
ROWS=30000
DIALECT=mls
BAD_ROWS=10
WRK_THREADS=2
WRK_CONNS=10
WRK_TIMEOUT=2s
BROWSE_DELAY=100
LONE_REPEAT=1
OUT="$ROOT/bench/out/concurrent"
URL=
DATA_DIR=
SERVE_ARGS=
KEEP=0
TIMEOUT_S=900

usage() {
	cat <<EOF
usage: bench/concurrent.sh [options]
  --propflow PATH      propflow binary (default \$PROPFLOW, else build/propflow)
  --users N            concurrent uploaders (default $USERS)
  --rows N             data rows per file (default $ROWS)
  --dialect D          gen.mjs dialect (default $DIALECT)
  --bad-rows K         rows with a wrong field count per file (default $BAD_ROWS)
  --wrk-threads T      wrk threads (default $WRK_THREADS)
  --wrk-conns C        wrk connections (default $WRK_CONNS; 0: no browsing, uploads only)
  --wrk-timeout D      wrk's request timeout: slower answers count as timeouts (default $WRK_TIMEOUT)
  --browse-delay MS    think time before each browse request per connection (default $BROWSE_DELAY)
  --lone-repeat R      lone imports timed (median reported; default $LONE_REPEAT)
  --serve-args "..."   extra arguments for propflow serve (e.g. "--db-writers 4")
  --url URL --data-dir DIR
                       use a running server (its embedded database's data dir, for the CLI)
  --out DIR            results directory (default bench/out/concurrent)
  --keep               keep the work directory (files, database)
EOF
}

die() {
	echo "concurrent.sh: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--propflow) PROPFLOW=$2; shift 2 ;;
	--users) USERS=$2; shift 2 ;;
	--rows) ROWS=$2; shift 2 ;;
	--dialect) DIALECT=$2; shift 2 ;;
	--bad-rows) BAD_ROWS=$2; shift 2 ;;
	--wrk-threads) WRK_THREADS=$2; shift 2 ;;
	--wrk-conns) WRK_CONNS=$2; shift 2 ;;
	--wrk-timeout) WRK_TIMEOUT=$2; shift 2 ;;
	--browse-delay) BROWSE_DELAY=$2; shift 2 ;;
	--lone-repeat) LONE_REPEAT=$2; shift 2 ;;
	--serve-args) SERVE_ARGS=$2; shift 2 ;;
	--url) URL=${2%/}; shift 2 ;;
	--data-dir) DATA_DIR=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown option $1" ;;
	esac
done
[[ $WRK_CONNS =~ ^[0-9]+$ ]] || die "--wrk-conns must be a number (0: no browsing)"
for v in USERS ROWS WRK_THREADS LONE_REPEAT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} must be a positive integer"
done
[[ $BAD_ROWS =~ ^[0-9]+$ && $BAD_ROWS -lt $ROWS ]] || die "bad --bad-rows"
[[ $BROWSE_DELAY =~ ^[0-9]+$ ]] || die "--browse-delay must be a number of ms"
if [ -n "$URL" ] || [ -n "$DATA_DIR" ]; then
	[ -n "$URL" ] && [ -n "$DATA_DIR" ] || die "--url and --data-dir go together"
fi
for tool in node curl jq awk wrk date; do
	command -v "$tool" >/dev/null || die "$tool is needed (apt-get install nodejs curl jq wrk)"
done
[ -n "${EPOCHREALTIME:-}" ] || die "bash 5 or later is needed (EPOCHREALTIME)"
[ -x "$PROPFLOW" ] || die "no propflow binary at $PROPFLOW (meson compile -C build, or --propflow)"

EXPECTED=$((ROWS - BAD_ROWS))
TICK=$(getconf CLK_TCK)
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/propflow-concurrent.XXXXXX") || die "mktemp failed"
chmod 755 "$WORK" # the postgres user must reach the data dir when we are root
SPID=
WRK_PID=
PIDS=()

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
# ISO-8601 UTC timestamp -> epoch seconds with milliseconds
epoch() { date -u -d "$1" +%s.%3N; }

stop_server() { bench_stop_server concurrent.sh; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$WRK_PID" ]; then
		kill -INT "$WRK_PID" 2>/dev/null
		wait "$WRK_PID" 2>/dev/null
	fi
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	stop_server
	if [ "$KEEP" = 1 ]; then
		echo "concurrent.sh: kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- server ------------------------------------------------------------------------------------
if [ -z "$URL" ]; then
	DATA_DIR="$WORK/data"
	mkdir -m 755 "$DATA_DIR"
	# shellcheck disable=SC2086
	"$PROPFLOW" serve --listen 127.0.0.1:0 --data-dir "$DATA_DIR" --static-dir "$ROOT/static" \
		$SERVE_ARGS >"$OUT/serve.out" 2>"$OUT/serve.err" &
	SPID=$!
	URL=$(bench_wait_listening "$OUT/serve.out" 900)
	case $? in
	1) die "server exited: $(tail -n 3 "$OUT/serve.err")" ;;
	2) die "server did not print its address in 90 s" ;;
	esac
	SERVER_PID=$SPID
else
	SERVER_PID=$(pgrep -f -o -- "serve.*--data-dir $DATA_DIR" 2>/dev/null || true)
fi
echo "concurrent.sh: server $URL (data dir $DATA_DIR)" >&2

cli() { "$PROPFLOW" "$@" --data-dir "$DATA_DIR"; }

# user NAME -> its token (the user is created first; generated password, not needed)
make_user() {
	cli user add "$1" </dev/null >>"$OUT/users.log" 2>&1 || die "user add $1 failed: $(tail -n 2 "$OUT/users.log")"
	cli user token "$1" 2>>"$OUT/users.log" | tail -n 1
}

TAG=$$
BROWSER="browse$TAG"
BTOKEN=$(make_user "$BROWSER")
[[ $BTOKEN == pft_* ]] || die "no token for $BROWSER: $BTOKEN"
declare -a NAMES TOKENS FILES
for i in $(seq 1 "$USERS"); do
	NAMES[i]=$(printf 'u%02d_%s' "$i" "$TAG")
	TOKENS[i]=$(make_user "${NAMES[i]}")
	[[ ${TOKENS[i]} == pft_* ]] || die "no token for ${NAMES[i]}"
done
echo "concurrent.sh: $((USERS + 1)) users with tokens" >&2

# --- files -------------------------------------------------------------------------------------
gen() { # seed out
	node "$ROOT/bench/gen.mjs" --rows "$ROWS" --dialect "$DIALECT" --seed "$1" --bad-rows "$BAD_ROWS" \
		--out "$2" --quiet || die "gen.mjs failed"
}
gen 900 "$WORK/browse-0.csv"
for r in $(seq 1 "$LONE_REPEAT"); do gen $((900 + r)) "$WORK/browse-$r.csv"; done
for i in $(seq 1 "$USERS"); do
	FILES[i]="$WORK/user-$i.csv"
	gen "$i" "${FILES[i]}"
done
FILE_MB=$(awk -v b="$(stat -c %s "${FILES[1]}")" 'BEGIN { printf "%.1f", b / 1e6 }')
echo "concurrent.sh: $((USERS + LONE_REPEAT + 1)) files of $ROWS rows (~$FILE_MB MB)" >&2

# upload TOKEN FILE NAME RESP -> prints the HTTP status; the answer in RESP
upload() {
	curl -sS -o "$4" -w '%{http_code}' -X POST -T "$2" -H "Authorization: Bearer $1" \
		-H 'Content-Type: text/csv' -H 'Transfer-Encoding: chunked' \
		"$URL/api/imports?name=$3" 2>>"$OUT/curl.log"
}

job_json() { # token id
	curl -sS -H "Authorization: Bearer $1" "$URL/api/imports/$2" 2>>"$OUT/curl.log"
}

wait_done() { # token id -> the final job JSON on stdout
	local j st deadline=$((${EPOCHREALTIME%.*} + TIMEOUT_S))
	while :; do
		j=$(job_json "$1" "$2")
		st=$(jq -r '.state // empty' <<<"$j" 2>/dev/null)
		case "$st" in done | failed | interrupted | cancelled) break ;; esac
		[ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || break
		sleep 0.05
	done
	echo "$j"
}

# one import by the browsing user, alone: prints "id seconds rows"
lone() { # file name
	local t0 code id j fin
	t0=$(now)
	code=$(upload "$BTOKEN" "$1" "$2" "$WORK/resp.json")
	[ "$code" = 202 ] || die "upload of $2 answered $code: $(head -c 300 "$WORK/resp.json")"
	id=$(jq -r .id "$WORK/resp.json")
	j=$(wait_done "$BTOKEN" "$id")
	[ "$(jq -r .state <<<"$j")" = "done" ] || die "job $id of $2 did not end done: $(jq -c 'del(.columns)' <<<"$j")"
	[ "$(jq -r .rows_inserted <<<"$j")" = "$EXPECTED" ] ||
		die "job $id stored $(jq -r .rows_inserted <<<"$j") rows, want $EXPECTED"
	fin=$(epoch "$(jq -r .finished_at <<<"$j")")
	echo "$id $(elapsed "$t0" "$fin") $(jq -r .rows_inserted <<<"$j")"
}

# CPU seconds (user + system) of a process; 0 when gone
cpu_of() { awk -v t="$TICK" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU seconds of the embedded PostgreSQL (postmaster and its children)
pg_cpu() {
	local pm files=() p
	pm=$(head -n 1 "$DATA_DIR/pg/postmaster.pid" 2>/dev/null) || { echo 0; return; }
	for p in $pm $(ps -o pid= --ppid "$pm" 2>/dev/null); do files+=("/proc/$p/stat"); done
	awk -v t="$TICK" '{ s += $14 + $15 } END { printf "%.2f", s / t }' "${files[@]}" 2>/dev/null || echo 0
}

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
# --- 0: warm-up, the browsing user's data ---------------------------------------------------------
read -r B0 _ _ <<<"$(lone "$WORK/browse-0.csv" browse-0.csv)"
echo "concurrent.sh: warm-up import $B0 done" >&2

# --- A: lone imports ----------------------------------------------------------------------------
LONE_T=()
LONE_CPU=()
BJOBS=$B0
for r in $(seq 1 "$LONE_REPEAT"); do
	c0=$(cpu_of "${SERVER_PID:-0}")
	g0=$(pg_cpu)
	read -r id secs _ <<<"$(lone "$WORK/browse-$r.csv" "browse-$r.csv")"
	LONE_CPU+=("$(awk -v a="$c0" -v b="$(cpu_of "${SERVER_PID:-0}")" -v c="$g0" -v d="$(pg_cpu)" \
		'BEGIN { printf "%.1f / %.1f", b - a, d - c }')")
	LONE_T+=("$secs")
	BJOBS="$BJOBS,$id"
	echo "concurrent.sh: lone import $id: $secs s" >&2
done
LONE=$(printf '%s\n' "${LONE_T[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
LONE_RPS=$(awk -v r="$EXPECTED" -v s="$LONE" 'BEGIN { printf "%.0f", r / s }')

# --- B: all at once, with wrk browsing ------------------------------------------------------------
if [ "$WRK_CONNS" -gt 0 ]; then
	PF_TOKEN=$BTOKEN PF_JOB=$BJOBS PF_DELAY_MS=$BROWSE_DELAY \
		wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d3600s --timeout "$WRK_TIMEOUT" --latency \
		-s "$ROOT/bench/wrk/browse.lua" "$URL" >"$OUT/wrk.txt" 2>&1 &
	WRK_PID=$!
	sleep 1 # wrk connected and browsing before the uploads start
else
	echo "browse.lua: result requests=0 seconds=0 rps=0 p50=- p90=- p99=- max=- non2xx=0 connect=0 read=0 write=0 timeout=0" >"$OUT/wrk.txt"
fi
PF_CPU0=$(cpu_of "${SERVER_PID:-0}")
PG_CPU0=$(pg_cpu)
T0=$(now)
for i in $(seq 1 "$USERS"); do
	upload "${TOKENS[i]}" "${FILES[i]}" "user-$i.csv" "$WORK/resp-$i.json" >"$WORK/code-$i" &
	PIDS+=($!)
done

# poll each user's import list 4 times a second (one curl for all): first rows seen, end
declare -a FIRST
poll_args=()
for i in $(seq 1 "$USERS"); do
	[ "$i" -gt 1 ] && poll_args+=(--next)
	poll_args+=(-sS -w '\n' -H "Authorization: Bearer ${TOKENS[i]}" "$URL/api/imports")
done
deadline=$((${EPOCHREALTIME%.*} + TIMEOUT_S))
# timeline: seconds since start, imports ended, bytes received and rows stored (all users), CPU
# seconds so far of propflow and of PostgreSQL
printf 't\tended\tbytes\trows\tpropflow_cpu\tpg_cpu\n0\t0\t0\t0\t%s\t%s\n' "$PF_CPU0" "$PG_CPU0" >"$OUT/timeline.tsv"
while :; do
	mapfile -t rows < <(curl "${poll_args[@]}" 2>>"$OUT/curl.log" |
		jq -r '(.items // [])[0] | "\(.state // "-") \(.rows_inserted // 0) \(.bytes_received // 0)"' 2>/dev/null)
	t=$(elapsed "$T0" "$(now)") # the answers are at most this old
	ended=0
	sum=0
	bytes=0
	for i in $(seq 1 "$USERS"); do
		read -r st n b <<<"${rows[i - 1]:--  0 0}"
		sum=$((sum + n))
		bytes=$((bytes + b))
		[ -z "${FIRST[i]:-}" ] && [ "$n" -gt 0 ] && FIRST[i]=$t
		case "$st" in done | failed | interrupted | cancelled) ended=$((ended + 1)) ;; esac
	done
	pf=$(cpu_of "${SERVER_PID:-0}")
	pg=$(pg_cpu)
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$ended" "$bytes" "$sum" "$pf" "$pg" >>"$OUT/timeline.tsv"
	[ "$ended" = "$USERS" ] && break
	[ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || break
	sleep 0.25
done
WALL=$(elapsed "$T0" "$(now)")
WRK_CPU=$([ -n "$WRK_PID" ] && cpu_of "$WRK_PID" || echo 0)
PF_CPU=$(awk -v a="$PF_CPU0" -v b="$(cpu_of "${SERVER_PID:-0}")" 'BEGIN { printf "%.1f", b - a }')
PG_CPU=$(awk -v a="$PG_CPU0" -v b="$(pg_cpu)" 'BEGIN { printf "%.1f", b - a }')
if [ -n "$WRK_PID" ]; then
	kill -INT "$WRK_PID" 2>/dev/null
	wait "$WRK_PID" 2>/dev/null
	WRK_PID=
fi
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()

# --- results ------------------------------------------------------------------------------------
FAIL=()
declare -a CREATED FINISH NROWS
TOTAL=0
for i in $(seq 1 "$USERS"); do
	code=$(cat "$WORK/code-$i" 2>/dev/null)
	if [ "$code" != 202 ]; then
		FAIL+=("user $i: upload answered ${code:-nothing}: $(head -c 200 "$WORK/resp-$i.json" 2>/dev/null)")
		continue
	fi
	id=$(jq -r .id "$WORK/resp-$i.json")
	j=$(job_json "${TOKENS[i]}" "$id")
	echo "$j" >"$OUT/job-$i.json"
	[ "$(jq -r .state <<<"$j")" = "done" ] || FAIL+=("user $i: job $id $(jq -r .state <<<"$j") $(jq -r .error <<<"$j")")
	NROWS[i]=$(jq -r .rows_inserted <<<"$j")
	[ "${NROWS[i]}" = "$EXPECTED" ] || FAIL+=("user $i: job $id stored ${NROWS[i]} rows, want $EXPECTED")
	TOTAL=$((TOTAL + NROWS[i]))
	CREATED[i]=$(elapsed "$T0" "$(epoch "$(jq -r .created_at <<<"$j")")")
	fin=$(jq -r '.finished_at // empty' <<<"$j")
	FINISH[i]=$([ -n "$fin" ] && elapsed "$T0" "$(epoch "$fin")" || echo "")
	# isolation: the user lists exactly this one import
	ids=$(curl -sS -H "Authorization: Bearer ${TOKENS[i]}" "$URL/api/imports" | jq -c '[.items[].id]')
	[ "$ids" = "[$id]" ] || FAIL+=("user $i lists imports $ids, want [$id]")
done
FIRST_FIN=$(printf '%s\n' "${FINISH[@]}" | grep . | sort -n | head -n 1)
LAST_FIN=$(printf '%s\n' "${FINISH[@]}" | grep . | sort -n | tail -n 1)
FAIR=$(awk -v a="${FIRST_FIN:-0}" -v b="${LAST_FIN:-0}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
AGG_RPS=$(awk -v r="$TOTAL" -v s="${LAST_FIN:-0}" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }')
RATIO=$(awk -v a="$AGG_RPS" -v b="$LONE_RPS" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')

res=$(grep -m 1 '^browse.lua: result' "$OUT/wrk.txt")
w() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$res"; }
[ -n "$res" ] || FAIL+=("wrk printed no result line (see $OUT/wrk.txt)")
W_ERR=$(($(w non2xx) + $(w connect) + $(w read) + $(w write)))
W_TO=$(w timeout)

yes_no() {
	[ "$1" = - ] && { echo "n/a"; return; }
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == "<" ? v < t : v >= t); print ok ? "**met**" : "**not met**" }'
}
{
	echo "### \`bench/concurrent.sh$([ ${#ARGS[@]} -gt 0 ] && printf ' %s' "${ARGS[@]}")\`"
	echo
	echo "$USERS uploads of $ROWS rows (~$FILE_MB MB each, $EXPECTED stored), chunked curl, one user each, while wrk"
	echo "($WRK_THREADS threads, $WRK_CONNS connections, think time $BROWSE_DELAY ms, timeout $WRK_TIMEOUT) browses as"
	echo "another user the two imports it made before (warm-up, lone); $(nproc) CPUs, load average before"
	echo "the script $LOADAVG."
	echo
	echo "| upload | job created (s) | first rows seen by (s) | finished (s) | rows |"
	echo "|---:|---:|---:|---:|---:|"
	for i in $(seq 1 "$USERS"); do
		echo "| $i | ${CREATED[i]:-} | ${FIRST[i]:-} | ${FINISH[i]:-} | ${NROWS[i]:-} |"
	done
	echo
	echo "| measure | value | target | |"
	echo "|---|---:|---|---|"
	echo "| lone import, $ROWS rows (median of $LONE_REPEAT: ${LONE_T[*]} s) | $LONE s, $LONE_RPS rows/s | | |"
	echo "| CPU of the lone import(s): propflow / PostgreSQL | $(printf '%s; ' "${LONE_CPU[@]}" | sed 's/; $//') s | | |"
	echo "| $USERS at once: last finished | $LAST_FIN s | | |"
	echo "| aggregate rows/s | $AGG_RPS ($RATIO × lone) | ≥ 0.90 × lone | $(yes_no "$RATIO" ">=" 0.90) |"
	echo "| first / last finish | $FIRST_FIN / $LAST_FIN s = $FAIR | ≥ 0.75 | $(yes_no "$FAIR" ">=" 0.75) |"
	echo "| browse p50 / p90 / p99 / max | $(w p50) / $(w p90) / $(w p99) / $(w max) ms | p99 < 100 ms | $(yes_no "$(w p99)" "<" 100) |"
	echo "| browse requests | $(w requests) in $(w seconds) s ($(w rps)/s) | | |"
	echo "| errors (non-2xx + socket) / timeouts | $W_ERR / $W_TO (uploads failed: ${#FAIL[@]}) | 0 / 0 | $([ "$W_ERR" = 0 ] && [ "$W_TO" = 0 ] && [ ${#FAIL[@]} = 0 ] && echo '**met**' || echo '**not met**') |"
	echo "| CPU during the $WALL s: propflow / PostgreSQL / wrk | $PF_CPU / $PG_CPU / $WRK_CPU s | | |"
	if [ ${#FAIL[@]} -gt 0 ]; then
		echo
		printf -- '- FAILED: %s\n' "${FAIL[@]}"
	fi
} | tee "$OUT/concurrent.md"
[ ${#FAIL[@]} = 0 ]
