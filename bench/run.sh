#!/bin/bash
# bench/run.sh: Parley's two benchmarks with their targets (`make bench`).
#
#   bench/ingest  signed Twilio webhooks at the maximum rate, against
#                 pgbench running the same writes on the same cluster in
#                 the same run, one message per transaction and 16 (what
#                 group commit could reach); CPU microseconds per webhook,
#                 Parley's own and PostgreSQL's; group commit's batch
#                 size; write calls per response (strace); then half that
#                 rate open-loop for p99; the server's memory.
#   bench/reply   1,000 chats send one message each to an agent whose LLM
#                 takes 2 s; every reply must reach the provider within 6 s
#                 of the last inbound, and Parley's own time per reply
#                 (end to end minus the LLM's) must stay small.
#   bench/freshness  last: 1,000 webhooks from new chats at 250/s, each
#                 body with one word of the run; bench/freshness polls
#                 search's predicate and gives p50/p99 seconds from each
#                 webhook's 2xx to its message being found by search
#                 (the indexer trails the messages, chat/search.c).
#
# Everything runs on loopback with free ports in a temporary directory:
# a PostgreSQL 15 cluster (as the `postgres` user when we are root), the
# optimised build/parley, and bench/benchfake (LLM + Twilio send API, with
# timestamps). All of it is stopped and deleted on exit, success or not.
# See bench/README.md for how to read the output.
#
# Knobs (environment): BENCH_SECONDS (10: each measured ingest phase),
# BENCH_CONNS (64: ingest connections), BENCH_PG_CLIENTS ("4 16": pgbench
# client counts, the best is the ceiling),
# BENCH_PGBENCH_MODE (prepared), BENCH_REPLY_WORKERS (1024),
# BENCH_REPLY_WARMUP (200: turns answered before the measured reply round),
# BENCH_DB_POOL (PARLEY_DB_POOL_SIZE for the reply and burst phases; unset:
# Parley's default),
# BENCH_PARLEY (a parley binary to measure instead of build/parley, e.g.
# one built from an earlier commit, for before/after runs on one tree),
# BENCH_KEEP=1 keeps the temporary directory; BENCH_PGLOG=1 logs slow
# statements, lock waits and autovacuum's runs in it (pg/postgres.log).
# BENCH_PGSTAT=1 logs every statement of the reply phase and prints what
# one answered turn costs: its transactions by shape (tx-reply.txt).
# BENCH_PGSS=1 loads pg_stat_statements and prints the reply phase's
# statements by PostgreSQL time per answered turn (ss-reply.txt).
# BENCH_REPLY_RATE=R sends the reply phase's 1,000 first messages open
# loop at R a second instead of as fast as 16 connections go (a steady
# stream of new conversations rather than one burst: what rate keeps the
# overhead small). BENCH_ONLY=reply runs only the set-up and bench/reply, BENCH_ONLY=ingest
# only Parley's max and half rate (no pgbench ceilings); each prints its
# own lines and no table: for quick before/after runs while working.
# BENCH_PERF=1 records the whole machine with perf (linux-perf, not
# installed by the Makefile) during the reply
# phase (perf-reply.data; with BENCH_KEEP=1, `perf report -i` it).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PGBIN=/usr/lib/postgresql/15/bin
SECS=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNS:-64}
PG_CLIENTS=${BENCH_PG_CLIENTS:-4 16}
PG_MODE=${BENCH_PGBENCH_MODE:-prepared}
PG_BATCH=${BENCH_PG_BATCH:-16}
REPLY_WORKERS=${BENCH_REPLY_WORKERS:-1024}
REPLY_CHATS=1000
LLM_DELAY_MS=2000
NUMBER=+15550000001
ACCOUNT_SID=ACbe0c00000000000000000000000000be
AUTH_TOKEN=bench0auth0token0000000000000000
ORG=Bench
T_START=$(date +%s)
LOAD_BEFORE=$(cut -d" " -f1-3 /proc/loadavg)

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# --- build --------------------------------------------------------------
say "== build (optimised build/parley, bench tools)"
make --no-print-directory -j"$(nproc)" all >/dev/null ||
    die "the tree does not build yet (make all failed)"
make --no-print-directory -f bench/Makefile >/dev/null ||
    die "bench tools do not build"
[ -x "$PGBIN/pgbench" ] || die "pgbench missing ($PGBIN/pgbench)"
B=build/bench

# --- scratch space and clean-up -------------------------------------------
T=$(mktemp -d /tmp/parley-bench-XXXXXX)
chmod 755 "$T"
PIDS=()
PG_STARTED=0
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    if [ "$PG_STARTED" = 1 ]; then
        as_pg "$PGBIN/pg_ctl" -D "$T/pg" -m immediate -w stop >/dev/null 2>&1
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "bench: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$B/benchfake" --free-port; }
wait_http() {	# url seconds
    for _ in $(seq $(($2 * 10))); do
        curl -fsS -m 1 -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
# utime+stime (+ reaped children) of a pid, in clock ticks.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The whole cluster: the postmaster (whose cutime holds its reaped
# backends) plus its live children.
pg_ticks() {
    local pm sum=0 c
    pm=$(head -1 "$T/pg/postmaster.pid")
    sum=$(ticks "$pm")
    for c in $(pgrep -P "$pm"); do sum=$((sum + $(ticks "$c"))); done
    echo "$sum"
}
# utime+stime of a process itself (Parley has no children).
own_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
pct() {	# ticks seconds → % of one core
    awk -v t="$1" -v s="$2" -v hz="$HZ" 'BEGIN{printf "%.0f", 100*t/hz/s}'
}
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
us_per() {	# ticks count → CPU microseconds per item
    awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN{printf "%.0f", (n > 0 ? 1e6 * t / hz / n : 0)}'
}

# --- PostgreSQL -------------------------------------------------------------
say "== PostgreSQL 15 cluster in $T/pg"
PGPORT=$(free_port)
mkdir -p "$T/pg" "$T/run" "$T/data"
[ "$(id -u)" = 0 ] && chown postgres "$T/pg" "$T/run"
as_pg "$PGBIN/initdb" -D "$T/pg" -U parley -A trust -E UTF8 --no-sync \
    >"$T/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$T/initdb.log")"
cat >>"$T/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$T/run'
EOF
# BENCH_PGLOG=1: slow statements (>= 200 ms) and lock waits in pg/postgres.log.
[ "${BENCH_PGLOG:-0}" = 1 ] && cat >>"$T/pg/postgresql.conf" <<EOF
log_min_duration_statement = 200
log_lock_waits = on
deadlock_timeout = 100ms
log_autovacuum_min_duration = 0
EOF
[ "${BENCH_PGSS:-0}" = 1 ] && cat >>"$T/pg/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
pg_stat_statements.track_planning = on
EOF
as_pg "$PGBIN/pg_ctl" -D "$T/pg" -l "$T/pg/postgres.log" -w -t 60 start \
    >/dev/null || die "PostgreSQL did not start: $(tail -3 "$T/pg/postgres.log")"
PG_STARTED=1
as_pg "$PGBIN/createdb" -h "$T/run" -p "$PGPORT" -U parley parley
DBURL="host=127.0.0.1 port=$PGPORT dbname=parley user=parley"
psql_q() { psql -X -q -At -h 127.0.0.1 -p "$PGPORT" -U parley -d parley -c "$1"; }

# --- the fakes ---------------------------------------------------------------
FAKEPORT=$(free_port)
"$B/benchfake" --port "$FAKEPORT" --llm-delay-ms -1 >"$T/benchfake.log" 2>&1 &
PIDS+=($!)
FAKE=http://127.0.0.1:$FAKEPORT
wait_http "$FAKE/healthz" 10 || die "benchfake did not start"

# The fake's counters, polled 10 times a second while replies come in,
# without a fork: one kept connection (fd 8) and bash's own reads. A curl
# and an awk per poll cost about a tenth of a core, taken from the
# machine the reply phase measures. Sets FSTAT to the words of
# /_bench/stats ("llm_in N llm_out N sends N typing N other N").
FSTAT=()
FSTAT_REQ=$'GET /_bench/stats HTTP/1.1\r\nHost: benchfake\r\n\r\n'
fake_stats() {
    local line len=0
    [ -e /dev/fd/8 ] || exec 8<>"/dev/tcp/127.0.0.1/$FAKEPORT"
    printf '%s' "$FSTAT_REQ" >&8
    while IFS= read -r -t 5 -u 8 line; do
        line=${line%$'\r'}
        [ -z "$line" ] && break
        case $line in Content-Length:*) len=${line#Content-Length: } ;; esac
    done
    line=
    [ "$len" -gt 0 ] && { read -r -N "$len" -t 5 -u 8 line || true; }
    read -r -a FSTAT <<<"$line" || true
}

# --- Parley -------------------------------------------------------------------
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
PARLEY_BIN=${BENCH_PARLEY:-build/parley}
[ -x "$PARLEY_BIN" ] || die "no parley binary at $PARLEY_BIN"
say "== parley binary: $PARLEY_BIN"
PARLEY_PID=
start_parley() {	# extra NAME=value...
    env -i PATH="$PATH" HOME="$T" \
        PARLEY_DATABASE_URL="$DBURL" PARLEY_LISTEN="127.0.0.1:$PORT" \
        PARLEY_PUBLIC_URL="$BASE" PARLEY_HOME="$ROOT" \
        PARLEY_DATA_DIR="$T/data" PARLEY_MASTER_KEY_FILE="$T/data/master.key" \
        PARLEY_ADMIN_EMAIL=owner@example.com \
        PARLEY_ADMIN_PASSWORD=correct-horse-battery-staple \
        PARLEY_ADMIN_ORG="$ORG" PARLEY_LOG_LEVEL=warn \
        PARLEY_TWILIO_API_BASE="$FAKE" PARLEY_TWILIO_MESSAGING_BASE="$FAKE" \
        "$@" "$PARLEY_BIN" serve >>"$T/parley.log" 2>&1 &
    PARLEY_PID=$!
    PIDS+=("$PARLEY_PID")
    wait_http "$BASE/healthz" 30 ||
        die "parley did not start: $(tail -5 "$T/parley.log")"
}
stop_parley() {
    kill -TERM "$PARLEY_PID"
    # A reply worker parked on the held LLM request finishes it and stops.
    curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/delay?ms=$1" || true
    for _ in $(seq 300); do kill -0 "$PARLEY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PARLEY_PID" 2>/dev/null || true
    wait "$PARLEY_PID" 2>/dev/null || true
}
mem() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
# Parley's pool counters from /metrics: "acquired waited".
pool_acq() {
    curl -fsS -m 5 "$BASE/metrics" | awk '
        /^parley_db_pool_acquires_total\{outcome="ok"\}/ { ok = $2 }
        /^parley_db_pool_acquires_total\{outcome="waited"\}/ { w = $2 }
        END { printf "%d %d\n", ok, w }'
}
# Group commit's counters from /metrics: "transactions messages".
ingest_commits() {
    curl -fsS -m 5 "$BASE/metrics" | awk '
        /^parley_ingest_commits_total / { t = $2 }
        /^parley_ingest_messages_total / { m = $2 }
        END { printf "%d %d\n", t, m }'
}
# Transactions PostgreSQL committed in database parley (each autocommit
# statement is one). Backends report at most once a second: approximate.
pg_xacts() { psql_q "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'parley'"; }
# WAL flushes (fsyncs) so far: group commit shows as fewer per message.
pg_syncs() { psql_q "SELECT wal_sync FROM pg_stat_wal"; }

# =============================================================================
# bench/ingest
# =============================================================================
say "== bench/ingest: parley on $BASE (1 reply worker, parked on a held LLM" \
    "call, so no reply work runs), $CONNS connections"
start_parley PARLEY_WORKERS=1 PARLEY_HTTP_THREADS=$((CONNS + 16)) \
    PARLEY_LLM_TIMEOUT_SECONDS=600
SETUP=$("$B/benchsetup" --db "$DBURL" --key-file "$T/data/master.key" \
    --org "$ORG" --llm-base "$FAKE/v1" --number "$NUMBER" \
    --account-sid "$ACCOUNT_SID" --auth-token "$AUTH_TOKEN") ||
    die "set-up failed"
ORG_ID=$(echo "$SETUP" | sed -n 's/.*org=\([0-9]*\).*/\1/p')
CHANNEL_ID=$(echo "$SETUP" | sed -n 's/.*channel=\([0-9]*\).*/\1/p')
say "   set-up: $SETUP"
LG=("$B/loadgen" --port "$PORT" --public-url "$BASE" --token "$AUTH_TOKEN"
    --to "$NUMBER")

say "-- warm-up: 3 s closed loop"
"${LG[@]}" --connections "$CONNS" --duration 3 --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + 1)))" \
    >"$T/warmup.out"
grep '^loadgen:' "$T/warmup.out" >&2
[ "$(kv ok <"$T/warmup.out")" -gt 0 ] || die "no webhook was accepted: $(tail -5 "$T/parley.log")"

# One measured phase: runs "$@" and sets PH_WALL (s), PH_PG and PH_SRV
# (% of one core: PostgreSQL, parley), PH_PG_T and PH_SRV_T (the same in
# clock ticks); `ph_other S` then gives the % used
# by everything else on the machine minus S seconds of load generator:
# other sessions' work makes a run's numbers untrustworthy.
busy_ticks() { awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
phase() {
    local p0 s0 b0 w0 p1 s1 b1 w1
    p0=$(pg_ticks); s0=$(own_ticks "${PARLEY_PID:-self}"); b0=$(busy_ticks); w0=$(date +%s.%N)
    "$@"
    w1=$(date +%s.%N); p1=$(pg_ticks); s1=$(own_ticks "${PARLEY_PID:-self}"); b1=$(busy_ticks)
    PH_PG_T=$((p1 - p0)); PH_SRV_T=$((s1 - s0))
    PH_WALL=$(echo "$w1 - $w0" | bc)
    PH_PG=$(pct $((p1 - p0)) "$PH_WALL")
    PH_SRV=$(pct $((s1 - s0)) "$PH_WALL")
    PH_OTHER_T=$((b1 - b0 - (p1 - p0) - (s1 - s0)))
}
ph_other() {
    awk -v o="$PH_OTHER_T" -v l="${1:-0}" -v hz="$HZ" -v w="$PH_WALL" \
        'BEGIN{o = 100 * (o / hz - l) / w; printf "%.0f", (o < 0 ? 0 : o)}'
}
run_pgbench() {	# clients mode seconds out [batch]
    "$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PGPORT" -U parley -f bench/ingest.sql \
        -D org="$ORG_ID" -D channel="$CHANNEL_ID" -D run=$((RANDOM + 1)) -D i=0 \
        -D batch="${5:-1}" \
        --max-tries=10 -c "$1" -j "$NCPU" -M "$2" -T "$3" parley >"$4" 2>&1 ||
        die "pgbench failed: $(tail -5 "$4")"
}
# The second ceiling: ingest.sql's statement over PG_BATCH messages (each
# with its own sender and message id), as group commit runs a batch. Two
# such statements can lock the same chats in other orders: pgbench
# retries a deadlock (--max-tries) as Parley's leader does.
PG_TPS=0; PG_BEST=
PGB_ROWS=()
ONLY=${BENCH_ONLY:-}
[ -n "$ONLY" ] && PG_CLIENTS_RUN= || PG_CLIENTS_RUN=$PG_CLIENTS
for c in $PG_CLIENTS_RUN; do
    say "-- pgbench: bench/ingest.sql, $c clients, -M $PG_MODE, ${SECS} s"
    F0=$(pg_syncs)
    phase run_pgbench "$c" "$PG_MODE" "$SECS" "$T/pgbench-$c.out"
    sleep 1.2; F1=$(pg_syncs)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$T/pgbench-$c.out" | head -1)
    lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$T/pgbench-$c.out")
    txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/pgbench-$c.out")
    oth=$(ph_other)
    fl=$(awk -v f=$((F1 - F0)) -v n="$txs" 'BEGIN{printf "%.2f", (n ? f/n : 0)}')
    say "   $tps tps, latency avg $lat ms; CPU: PostgreSQL ${PH_PG}%, pgbench+other ${oth}% (of ${NCPU}00%); $fl WAL flushes per message"
    pgus=$(us_per "$PH_PG_T" "$txs")
    PGB_ROWS+=("ingest: pgbench, $c clients, -M $PG_MODE|$(printf '%.0f' "$tps") tps (avg $lat ms; CPU PG ${PH_PG}%, pgbench+other ${oth}%; $fl WAL flushes/msg; PG ${pgus} us/msg)|-|info")
    if awk -v a="$tps" -v b="$PG_TPS" 'BEGIN{exit !(a > b)}'; then PG_TPS=$tps; PG_BEST=$c; PG_US=$pgus; fi
done
PGB_MPS=0; PGB_BEST=; PGB_US=
for c in $PG_CLIENTS_RUN; do
    say "-- pgbench: bench/ingest.sql with $PG_BATCH messages per statement (= transaction), $c clients, -M $PG_MODE, ${SECS} s"
    phase run_pgbench "$c" "$PG_MODE" "$SECS" "$T/pgbatch-$c.out" "$PG_BATCH"
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$T/pgbatch-$c.out" | head -1)
    txs=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/pgbatch-$c.out")
    fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$T/pgbatch-$c.out")
    retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$T/pgbatch-$c.out")
    mps=$(awk -v t="$tps" -v b="$PG_BATCH" 'BEGIN{printf "%.0f", t * b}')
    pgus=$(us_per "$PH_PG_T" $((txs * PG_BATCH)))
    oth=$(ph_other)
    say "   $mps messages/s ($tps tps); PG ${pgus} us/msg; CPU: PostgreSQL ${PH_PG}%, pgbench+other ${oth}%; retried ${retried:-0}, failed ${fails:-0}"
    PGB_ROWS+=("ingest: pgbench, $PG_BATCH msgs/transaction, $c clients|$mps msg/s ($(printf '%.0f' "$tps") tps; CPU PG ${PH_PG}%, pgbench+other ${oth}%; PG ${pgus} us/msg; retried ${retried:-0}, failed ${fails:-0})|-|info")
    if awk -v a="$mps" -v b="$PGB_MPS" 'BEGIN{exit !(a > b)}'; then PGB_MPS=$mps; PGB_BEST=$c; PGB_US=$pgus; fi
done
if [ -z "$ONLY" ] && [ "${BENCH_PGBENCH_EXTENDED:-1}" = 1 ] && [ "$PG_MODE" != extended ]; then
    # Parley sends PQexecParams (extended protocol, unnamed statement):
    # parsed and planned at every execution. Information, not the ceiling.
    c=$PG_BEST
    say "-- pgbench: the same with -M extended (Parley's protocol), $c clients, $((SECS / 2)) s"
    phase run_pgbench "$c" extended $((SECS / 2)) "$T/pgbench-ext.out"
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$T/pgbench-ext.out" | head -1)
    oth=$(ph_other)
    say "   $tps tps; CPU: PostgreSQL ${PH_PG}%, pgbench+other ${oth}%"
    PGB_ROWS+=("ingest: pgbench, $c clients, -M extended|$(printf '%.0f' "$tps") tps (CPU PG ${PH_PG}%, pgbench+other ${oth}%)|-|info")
fi

max_run() {	# out extra-loadgen-args... (closed loop unless --rate)
    local out=$1; shift
    "${LG[@]}" --connections "$CONNS" --duration "$SECS" \
        --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" "$@" >"$out"
}
if [ "$ONLY" != reply ]; then
say "-- parley max rate: closed loop, $CONNS connections, ${SECS} s"
read -r A0 AW0 < <(pool_acq); X0=$(pg_xacts); F0=$(pg_syncs)
read -r GC_T0 GC_M0 < <(ingest_commits)
phase max_run "$T/max.out"
read -r GC_T1 GC_M1 < <(ingest_commits)
MAX_PG_T=$PH_PG_T; MAX_SRV_T=$PH_SRV_T
sleep 1.2; read -r A1 AW1 < <(pool_acq); X1=$(pg_xacts); F1=$(pg_syncs)
grep '^loadgen:' "$T/max.out" >&2
MAX_RPS=$(kv rps <"$T/max.out")
MAX_P50=$(kv p50_ms <"$T/max.out"); MAX_P99=$(kv p99_ms <"$T/max.out")
MAX_NON2XX=$(kv non2xx <"$T/max.out"); MAX_ERR=$(kv errors <"$T/max.out")
LG_CPU=$(kv cpu_s <"$T/max.out")
MAX_PG_CPU=$PH_PG; MAX_SRV_CPU=$PH_SRV
MAX_LG_CPU=$(awk -v c="$LG_CPU" -v w="$PH_WALL" 'BEGIN{printf "%.0f", 100*c/w}')
MAX_OTHER=$(ph_other "$LG_CPU")
say "   CPU: PostgreSQL ${MAX_PG_CPU}%, parley ${MAX_SRV_CPU}%, loadgen ${MAX_LG_CPU}%, other ${MAX_OTHER}% (of ${NCPU}00%)"
MAX_N=$(kv ok <"$T/max.out")
MAX_DB=$(awk -v a=$((A1 - A0)) -v w=$((AW1 - AW0)) -v x=$((X1 - X0)) -v f=$((F1 - F0)) -v n="$MAX_N" \
    'BEGIN{printf "per webhook: %.2f pool acquires (%.0f%% waited), %.2f PG transactions, %.3f WAL flushes", a/n, (a ? 100*w/a : 0), x/n, f/n}')
say "   $MAX_DB"
MAX_SRV_US=$(us_per "$MAX_SRV_T" "$MAX_N"); MAX_PG_US=$(us_per "$MAX_PG_T" "$MAX_N")
say "   CPU per webhook: parley ${MAX_SRV_US} us, PostgreSQL ${MAX_PG_US} us"
GC_BATCH=$(awk -v t=$((GC_T1 - GC_T0)) -v m=$((GC_M1 - GC_M0)) \
    'BEGIN{if (t > 0) printf "%.1f messages per commit (%d commits)", m / t, t; else print "n/a"}')
say "   group commit: $GC_BATCH"

# Diagnostic: the same with the client acknowledging every segment at
# once. The gap to the run above is what delayed ACKs cost a server that
# writes headers and body as separate small segments without TCP_NODELAY.
say "-- diagnostic: max rate again with --quickack, ${SECS} s"
phase max_run "$T/maxq.out" --quickack
grep '^loadgen:' "$T/maxq.out" >&2
Q_RPS=$(kv rps <"$T/maxq.out"); Q_P50=$(kv p50_ms <"$T/maxq.out"); Q_P99=$(kv p99_ms <"$T/maxq.out")
Q_PG=$PH_PG; Q_SRV=$PH_SRV; Q_OTHER=$(ph_other "$(kv cpu_s <"$T/maxq.out")")
say "   CPU: PostgreSQL ${Q_PG}%, parley ${Q_SRV}%, other ${Q_OTHER}%"

HALF=$(awk -v r="$MAX_RPS" 'BEGIN{printf "%d", r / 2}')
say "-- parley half rate: open loop at $HALF req/s, $CONNS connections, ${SECS} s"
read -r WF0 WB0 WS0 < <(psql_q "SELECT wal_buffers_full, wal_bytes, wal_sync FROM pg_stat_wal" | tr '|' ' ')
CK0=$(psql_q "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
# Clocks at the start: the record's CLOCK_MONOTONIC µs against the wall
# clock of PostgreSQL's log (BENCH_PGLOG=1), to place a stall.
echo "uptime $(cut -d' ' -f1 /proc/uptime) wall $(date +%s.%N)" >"$T/half.clock"
# Parley's own histogram of the webhook route (counts per upper bound):
# the server's view of the same requests, without the load generator's
# share of the two cores (a request due while it waits for the CPU counts
# from its due time in loadgen's figures).
wh_hist() {
    curl -fsS -m 5 "$BASE/metrics" | awk '
        /^parley_http_request_duration_seconds_bucket\{route="\/webhooks\/whatsapp\/twilio",/ {
            match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); printf "%s=%s ", le, $2 }'
}
H0=$(wh_hist)
phase max_run "$T/half.out" --rate "$HALF" --record "$T/half.rec"
H1=$(wh_hist)
HALF_SRV=$(awk -v a="$H0" -v b="$H1" 'BEGIN {
    n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); c0[kv[1]] = kv[2] }
    n = split(b, y, " "); for (i = 1; i <= n; i++) { split(y[i], kv, "="); d[kv[1]] = kv[2] - c0[kv[1]] }
    tot = d["+Inf"]; if (tot <= 0) { print "n/a"; exit }
    printf "%.2f%% over 10 ms, %.2f%% over 25 ms, %.2f%% over 100 ms (of %d)", 100 * (tot - d["0.01"]) / tot, 100 * (tot - d["0.025"]) / tot, 100 * (tot - d["0.1"]) / tot, tot }')
read -r WF1 WB1 WS1 < <(psql_q "SELECT wal_buffers_full, wal_bytes, wal_sync FROM pg_stat_wal" | tr '|' ' ')
CK1=$(psql_q "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
grep '^loadgen:' "$T/half.out" >&2
say "   Parley's own webhook histogram over the phase: $HALF_SRV"
say "   WAL over the phase: $(awk -v b=$((WB1 - WB0)) -v n="$(kv ok <"$T/half.out")" 'BEGIN{printf "%.0f bytes per message", (n ? b/n : 0)}'), $((WS1 - WS0)) flushes, $((WF1 - WF0)) writes forced by a full WAL buffer; checkpoints begun: $((CK1 - CK0))"
HALF_RPS=$(kv rps <"$T/half.out"); HALF_P50=$(kv p50_ms <"$T/half.out")
HALF_P99=$(kv p99_ms <"$T/half.out"); HALF_NON2XX=$(kv non2xx <"$T/half.out")
HALF_OTHER=$(ph_other "$(kv cpu_s <"$T/half.out")")
say "   CPU: PostgreSQL ${PH_PG}%, parley ${PH_SRV}%, other ${HALF_OTHER}%"
RSS_KB=$(mem "$PARLEY_PID" VmRSS); HWM_KB=$(mem "$PARLEY_PID" VmHWM)
say "   parley memory: VmRSS $((RSS_KB / 1024)) MiB, VmHWM $((HWM_KB / 1024)) MiB"
fi
show_log() {
    grep -v '^[[:space:]]*$' "$T/parley.log" | grep -iv "first owner\|email:\|password:\|sign in\|listening on" |
        sort | uniq -c | sort -rn | head -5 >&2 || true
}
if [ "$ONLY" = ingest ]; then stop_parley "$LLM_DELAY_MS"; exit 0; fi
if [ -z "$ONLY" ]; then

# Write calls per webhook response: strace on the server while one
# connection sends 200 webhooks; the write-like calls on sockets whose
# local port is Parley's (strace -yy names them) over the webhooks answered.
write_calls() {
    local sp n calls traced tasks
    command -v strace >/dev/null || { echo "n/a (no strace)"; return; }
    strace -f -yy -s 0 -e trace=write,writev,sendto,sendmsg,sendmmsg \
        -o "$T/strace.txt" -p "$PARLEY_PID" 2>"$T/strace.err" &
    sp=$!
    for _ in $(seq 200); do	# ≤ 10 s until every thread is traced
        tasks=0; traced=0
        for f in /proc/"$PARLEY_PID"/task/*/status; do
            tasks=$((tasks + 1))
            [ "$(awk '$1=="TracerPid:"{print $2}' "$f" 2>/dev/null)" = "$sp" ] && traced=$((traced + 1))
        done
        [ "$tasks" -gt 0 ] && [ "$traced" = "$tasks" ] && break
        kill -0 "$sp" 2>/dev/null || break
        sleep 0.05
    done
    if [ "${traced:-0}" != "${tasks:-1}" ]; then
        kill -INT "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
        echo "n/a (strace: $(head -c 200 "$T/strace.err"))"; return
    fi
    "${LG[@]}" --connections 1 --count 200 --duration 30 \
        --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" >"$T/strace-lg.out"
    kill -INT "$sp"; wait "$sp" 2>/dev/null
    n=$(kv ok <"$T/strace-lg.out")
    calls=$(grep -c "(.*<TCP:\[127\.0\.0\.1:$PORT->" "$T/strace.txt" || true)
    awk -v c="$calls" -v n="$n" 'BEGIN{if (n > 0) printf "%.1f (%d calls, %d webhooks)", c / n, c, n; else print "n/a"}'
}
WRITES=$(write_calls)
say "   write calls per webhook response (strace): $WRITES"
JOBS=$(psql_q "SELECT count(*) FROM jobs")
MSGS=$(psql_q "SELECT count(*) FROM messages WHERE direction = 'in'")
LLM_IN=$(curl -fsS -m 2 "$FAKE/_bench/stats" | awk '{print $2}')
say "   rows: $MSGS inbound messages, $JOBS jobs; LLM calls started: $LLM_IN" \
    "(the one worker's parked turn, asked again each time its chat got a" \
    "new message: about 1 per 10,000 webhooks)"
show_log
fi
stop_parley "$LLM_DELAY_MS"

# =============================================================================
# bench/reply
# =============================================================================
say "== bench/reply: $REPLY_CHATS chats, LLM answers in $LLM_DELAY_MS ms," \
    "PARLEY_WORKERS=$REPLY_WORKERS"
# The ingest phase's turns are not this benchmark's: retire them (their
# messages get a reason, so the "left behind" count below is this run's).
psql_q "DELETE FROM jobs WHERE status IN ('queued', 'running')" >/dev/null
psql_q "UPDATE chats SET turn_due_at = NULL, turn_job = NULL WHERE turn_due_at IS NOT NULL OR turn_job IS NOT NULL" >/dev/null
psql_q "UPDATE messages SET unanswered_reason = 'bench: the ingest phase' WHERE direction = 'in' AND answered_by IS NULL AND unanswered_reason IS NULL" >/dev/null
psql_q "VACUUM ANALYZE jobs" >/dev/null
psql_q "VACUUM ANALYZE chats" >/dev/null
# One message per chat: no burst to wait for, so the debounce is off and
# end to end minus the LLM is Parley's own time (the burst phase below
# runs with the default debounce).
psql_q "UPDATE agents SET debounce_ms = 0" >/dev/null
: >"$T/parley.log"
curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/reset"
curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/delay?ms=$LLM_DELAY_MS"
start_parley PARLEY_WORKERS="$REPLY_WORKERS" PARLEY_HTTP_THREADS=64 \
    PARLEY_LLM_TIMEOUT_SECONDS=30 ${BENCH_DB_POOL:+PARLEY_DB_POOL_SIZE=$BENCH_DB_POOL}
sleep 1		# let the pool's threads start and LISTEN
# What the idle pool costs: no job exists during these 3 s.
read -r A0 AW0 < <(pool_acq); X0=$(pg_xacts)
phase sleep 3
read -r A1 AW1 < <(pool_acq); X1=$(pg_xacts)
IDLE=$(awk -v a=$((A1 - A0)) -v x=$((X1 - X0)) -v w="$PH_WALL" \
    'BEGIN{printf "%.0f pool acquires/s, %.0f PG transactions/s", a/w, x/w}')
IDLE="$IDLE, CPU PostgreSQL ${PH_PG}% parley ${PH_SRV}%"
say "   idle pool of $REPLY_WORKERS workers: $IDLE"
# Warm-up, like the ingest phase's: a restarted server's connections are
# new PostgreSQL backends (cold catalog caches, and PostgreSQL plans a
# prepared statement afresh for its first five runs on a connection).
# REPLY_WARMUP turns of other chats, answered before the measured round
# starts; a running server's cost per turn is what the rows below say.
REPLY_WARMUP=${BENCH_REPLY_WARMUP:-200}
if [ "$REPLY_WARMUP" -gt 0 ]; then
    "${LG[@]}" --connections 16 --count "$REPLY_WARMUP" --senders "$REPLY_WARMUP" \
        --sender-base 3000000 --duration 30 --body-prefix "warm-up" \
        --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" >"$T/reply-warmup.out"
    for _ in $(seq 300); do
        fake_stats; SENDS=${FSTAT[5]:-0}
        [ "${SENDS:-0}" -ge "$REPLY_WARMUP" ] && break
        sleep 0.1
    done
    say "   warm-up: $REPLY_WARMUP turns of other chats, $(curl -fsS -m 2 "$FAKE/_bench/stats" | awk '{print $6}') answered"
    sleep 0.5
    curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/reset"
fi
if [ "${BENCH_PGSTAT:-0}" = 1 ]; then
    psql_q "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
    psql_q "ALTER SYSTEM SET log_line_prefix = '%p|'" >/dev/null
    psql_q "SELECT pg_reload_conf()" >/dev/null
    sleep 0.5
    PGLOG_FROM=$(stat -c %s "$T/pg/postgres.log")
fi
if [ "${BENCH_PGSS:-0}" = 1 ]; then
    psql_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    psql_q "SELECT pg_stat_statements_reset()" >/dev/null
fi
read -r A0 AW0 < <(pool_acq); X0=$(pg_xacts)
reply_run() {
    "${LG[@]}" --connections 16 --count "$REPLY_CHATS" --senders "$REPLY_CHATS" \
        ${BENCH_REPLY_RATE:+--rate "$BENCH_REPLY_RATE"} \
        --sender-base 2000000 --duration 30 --body-prefix "hello from" \
        --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" \
        --record "$T/reply.rec" >"$T/reply.out"
    for _ in $(seq 300); do	# ≤ 30 s after the last inbound
        fake_stats; SENDS=${FSTAT[5]:-0}
        [ "${SENDS:-0}" -ge "$REPLY_CHATS" ] && break
        sleep 0.1
    done
}
if [ "${BENCH_PERF:-0}" = 1 ]; then
    perf record -a -g -F 499 -o "$T/perf-reply.data" >/dev/null 2>&1 &
    PERF_PID=$!
    sleep 0.5
fi
phase reply_run
if [ "${BENCH_PERF:-0}" = 1 ]; then
    kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
    perf report -i "$T/perf-reply.data" --no-children --sort comm,dso \
        --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15 >&2 || true
fi
sleep 1.2; read -r A1 AW1 < <(pool_acq); X1=$(pg_xacts)
grep '^loadgen:' "$T/reply.out" >&2
R_DB=$(awk -v a=$((A1 - A0)) -v w=$((AW1 - AW0)) -v x=$((X1 - X0)) -v n="$(kv ok <"$T/reply.out")" \
    'BEGIN{printf "%.1f pool acquires (%.0f%% waited), %.1f PG transactions per message", a/n, (a ? 100*w/a : 0), x/n}')
say "   $R_DB"
# Every transaction of the phase (ingest, turns, the idle pool's) over
# the turns answered: what one answered turn costs PostgreSQL in all.
R_XPT=$(awk -v x=$((X1 - X0)) -v n="$(curl -fsS -m 2 "$FAKE/_bench/stats" | awk '{print $6}')" \
    'BEGIN{printf "%.1f", (n > 0 ? x/n : -1)}')
R_WH50=$(kv p50_ms <"$T/reply.out"); R_WH99=$(kv p99_ms <"$T/reply.out")
R_PG=$PH_PG; R_SRV=$PH_SRV; R_OTHER=$(ph_other "$(kv cpu_s <"$T/reply.out")")
say "   CPU over the phase: PostgreSQL ${R_PG}%, parley ${R_SRV}%, other ${R_OTHER}%"
sleep 0.5	# any duplicate sends show up too
curl -fsS -m 10 "$FAKE/_bench/sends" >"$T/sends.txt"
curl -fsS -m 10 "$FAKE/_bench/llm" >"$T/llm.txt"
say "   fake: $(curl -fsS -m 5 "$FAKE/_bench/stats")"
if [ "${BENCH_PGSTAT:-0}" = 1 ]; then
    psql_q "ALTER SYSTEM RESET log_statement" >/dev/null
    psql_q "ALTER SYSTEM RESET log_line_prefix" >/dev/null
    psql_q "SELECT pg_reload_conf()" >/dev/null
    # A transaction is BEGIN … COMMIT/ROLLBACK on one backend (named by
    # its first statements) or one statement outside them; per answer.
    tail -c +"$((PGLOG_FROM + 1))" "$T/pg/postgres.log" | awk -F'|' -v n=$REPLY_CHATS '
        /\|LOG:  (execute [^:]*|statement): / {
            pid = $1; q = $0
            sub(/^[^|]*\|LOG:  (execute [^:]*|statement): /, "", q)
            gsub(/[ \t]+/, " ", q); q = substr(q, 1, 60)
            if (q ~ /^BEGIN/) { open[pid] = 1; shape[pid] = ""; next }
            if (q ~ /^(COMMIT|ROLLBACK)/) {
                if (open[pid]) tx["tx[" shape[pid] " ]"]++
                open[pid] = 0; next
            }
            if (open[pid]) { if (length(shape[pid]) < 130) shape[pid] = shape[pid] " " substr(q, 1, 40) ";" }
            else tx[q]++
        }
        END { for (k in tx) { t += tx[k]; printf "%6.2f  %s\n", tx[k] / n, k } printf "%6.2f  all transactions per answer\n", t / n }
    ' | sort -rn >"$T/tx-reply.txt"
    say "   PG transactions per answer, by shape ($T/tx-reply.txt):"
    head -20 "$T/tx-reply.txt" >&2
fi
if [ "${BENCH_PGSS:-0}" = 1 ]; then
    # ms per answered turn (execution + planning), calls per turn, statement.
    psql_q "SELECT to_char((total_exec_time + total_plan_time) / $REPLY_CHATS, 'FM990.000') || ' ms  ' ||
                   to_char(calls::float8 / $REPLY_CHATS, 'FM9990.00') || ' calls  ' ||
                   left(regexp_replace(query, '\\s+', ' ', 'g'), 110)
              FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 40" >"$T/ss-reply.txt"
    say "   PG time per answered turn by statement ($T/ss-reply.txt):"
    head -25 "$T/ss-reply.txt" >&2
fi
REPLY_HWM=$(mem "$PARLEY_PID" VmHWM)
REPLY_THREADS=$(awk '$1=="Threads:"{print $2}' "/proc/$PARLEY_PID/status")
say "   parley: $REPLY_THREADS threads, VmHWM $((REPLY_HWM / 1024)) MiB"
say "   jobs: $(psql_q "SELECT string_agg(status || '=' || n, ' ') FROM (SELECT status, count(*) n FROM jobs GROUP BY 1 ORDER BY 1) s")"
show_log

# Per chat: inbound 200 (loadgen), LLM in/out (fake), first send (fake);
# one line per replied chat: overhead, before-LLM and after-LLM times (us).
awk -v base=2000000 -v delay="$LLM_DELAY_MS" -v sum="$T/reply.sum" '
    FILENAME == ARGV[1] { if ($5 >= 200 && $5 < 300) { ok[$2] = $4; if ($4 > last_in) last_in = $4 }; next }
    FILENAME == ARGV[2] { if (!($1 in lin)) { lin[$1] = $2; lout[$1] = $3 }; next }
    FILENAME == ARGV[3] { c = substr($1, 5) - base; n_send++
                          if (!(c in snd)) snd[c] = $2; else dup++; next }
    END {
        n = 0; n_ok = 0
        for (c in ok) {
            n_ok++
            if (!(c in snd)) { missing++; continue }
            llm = (c in lin) ? lout[c] - lin[c] : delay * 1000
            printf "%d %d %d\n", snd[c] - ok[c] - llm, (c in lin) ? lin[c] - ok[c] : 0, (c in lin) ? snd[c] - lout[c] : 0
            n++
            if (snd[c] > last_send) last_send = snd[c]
        }
        printf "inbound_ok=%d sent=%d sends_total=%d duplicates=%d missing=%d last_send_after_last_inbound_s=%.3f", n_ok, n, n_send, dup + 0, missing + 0, (n ? (last_send - last_in) / 1e6 : -1) >sum
    }
' "$T/reply.rec" "$T/llm.txt" "$T/sends.txt" >"$T/reply.per_chat"
q() {	# column percentile → ms
    sort -n -k"$1","$1" "$T/reply.per_chat" | awk -v col="$1" -v p="$2" '
        { v[NR] = $col } END { if (NR == 0) { print -1; exit }
        k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR
        printf "%.2f", v[k] / 1000 }'
}
echo "RESULT $(cat "$T/reply.sum") overhead_p50_ms=$(q 1 50) overhead_p99_ms=$(q 1 99) overhead_max_ms=$(q 1 100) before_llm_p50_ms=$(q 2 50) before_llm_p99_ms=$(q 2 99) after_llm_p50_ms=$(q 3 50) after_llm_p99_ms=$(q 3 99)" >"$T/reply.result"
say "   $(cat "$T/reply.result")"
R_SENT=$(kv sent <"$T/reply.result")
R_DUP=$(kv duplicates <"$T/reply.result")
R_LAST=$(kv last_send_after_last_inbound_s <"$T/reply.result")
R_OV50=$(kv overhead_p50_ms <"$T/reply.result")
R_OV99=$(kv overhead_p99_ms <"$T/reply.result")
R_PRE50=$(kv before_llm_p50_ms <"$T/reply.result")
R_PRE99=$(kv before_llm_p99_ms <"$T/reply.result")
R_POST50=$(kv after_llm_p50_ms <"$T/reply.result")
R_POST99=$(kv after_llm_p99_ms <"$T/reply.result")
R_IN=$(kv ok <"$T/reply.out"); R_IN_S=$(kv seconds <"$T/reply.out")
stop_parley "$LLM_DELAY_MS"
if [ "$ONLY" = reply ]; then
    say "   webhook latency p50/p99 $R_WH50/$R_WH99 ms; $R_XPT PG transactions per answered turn; CPU PG ${R_PG}% parley ${R_SRV}% other ${R_OTHER}%"
    exit 0
fi

# =============================================================================
# bench/burst
# =============================================================================
# People write in bursts: each of BURST_CHATS chats sends 3 messages
# 300 ms apart (open loop: request k is due at k / rate, so chat c's
# messages are due at c/rate, +300 ms, +600 ms) to an agent with the
# default debounce (1.5 s) and a 2 s model. Wanted: one answer per chat
# covering its 3 messages, one model call per chat, nothing left behind.
BURST_CHATS=$REPLY_CHATS
BURST_RATE=$((BURST_CHATS * 10 / 3))
say "== bench/burst: $BURST_CHATS chats x 3 messages 300 ms apart" \
    "(open loop $BURST_RATE req/s), debounce 1500 ms, LLM $LLM_DELAY_MS ms"
psql_q "UPDATE agents SET debounce_ms = 1500" >/dev/null
: >"$T/parley.log"
curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/reset"
curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/delay?ms=$LLM_DELAY_MS"
start_parley PARLEY_WORKERS="$REPLY_WORKERS" PARLEY_HTTP_THREADS=64 \
    PARLEY_LLM_TIMEOUT_SECONDS=30 ${BENCH_DB_POOL:+PARLEY_DB_POOL_SIZE=$BENCH_DB_POOL}
sleep 1
BURST_T0=$(psql_q "SELECT now()")
read -r A0 AW0 < <(pool_acq); X0=$(pg_xacts)
burst_run() {
    "${LG[@]}" --connections 64 --rate "$BURST_RATE" --count $((BURST_CHATS * 3)) \
        --senders "$BURST_CHATS" --sender-base 3000000 --duration 30 \
        --body-prefix "part of my question" \
        --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" \
        --record "$T/burst.rec" >"$T/burst.out"
    for _ in $(seq 300); do	# ≤ 30 s after the last inbound
        fake_stats; SENDS=${FSTAT[5]:-0}
        [ "${SENDS:-0}" -ge "$BURST_CHATS" ] && break
        sleep 0.1
    done
    sleep 3	# a second answer to any chat (a follow-up) shows up too
}
phase burst_run
read -r A1 AW1 < <(pool_acq); X1=$(pg_xacts)
grep '^loadgen:' "$T/burst.out" >&2
B_STATS=$(curl -fsS -m 5 "$FAKE/_bench/stats")
say "   fake: $B_STATS"
B_LLM=$(echo "$B_STATS" | awk '{print $2}'); B_SENDS=$(echo "$B_STATS" | awk '{print $6}')
B_WH99=$(kv p99_ms <"$T/burst.out"); B_IN=$(kv ok <"$T/burst.out")
B_XPT=$(awk -v x=$((X1 - X0)) -v n="$B_SENDS" 'BEGIN{printf "%.1f", (n > 0 ? x/n : -1)}')
# Per chat of this burst: its inbound messages, the answers that covered
# them, the ones not covered. "covering 3" = 3 messages, 1 answer, 0 left.
read -r B_CHATS B_COVERED3 B_LEFT < <(psql_q "
    SELECT count(*), count(*) FILTER (WHERE n = 3 AND answers = 1 AND left_ = 0),
           coalesce(sum(left_), 0)
      FROM (SELECT m.chat_id, count(*) AS n,
                   count(DISTINCT m.answered_by) AS answers,
                   count(*) FILTER (WHERE m.answered_by IS NULL) AS left_
              FROM messages m
             WHERE m.direction = 'in' AND m.created_at >= '$BURST_T0'
             GROUP BY m.chat_id) s" | tr '|' ' ')
# No message left behind, anywhere in the database: every inbound row
# is answered or carries its reason.
B_UNSETTLED=$(psql_q "SELECT count(*) FROM messages WHERE direction = 'in' AND answered_by IS NULL AND unanswered_reason IS NULL")
say "   chats $B_CHATS, answered covering their 3 messages $B_COVERED3," \
    "messages not covered $B_LEFT, unsettled in the database $B_UNSETTLED," \
    "model calls $B_LLM, sends $B_SENDS, $B_XPT PG transactions per answered turn"
show_log
stop_parley "$LLM_DELAY_MS"

# =============================================================================
# bench/freshness
# =============================================================================
# Search trails the messages (chat/search.c's indexer, off the webhook's
# transaction): FRESH_COUNT webhooks from as many new chats, open loop,
# each body carrying one word of this run; bench/freshness polls search's
# own predicate every 20 ms and notes when each message is first found.
# Last, after the other phases, so it disturbs none of them; the reply
# worker is parked (held LLM) as in bench/ingest: only ingest and the
# indexer run.
FRESH_COUNT=1000
FRESH_RATE=250
FRESH_WIN=$((FRESH_COUNT / FRESH_RATE + 30))	# s: the poll's bound
FRESH_WORD=fresh$(printf '%08x' $((RANDOM * 65536 + RANDOM)))
say "== bench/freshness: $FRESH_COUNT webhooks (open loop $FRESH_RATE req/s)," \
    "then until each is found by search (<= 30 s)"
: >"$T/parley.log"
curl -fsS -m 5 -o /dev/null -X POST "$FAKE/_bench/delay?ms=-1"
start_parley PARLEY_WORKERS=1 PARLEY_HTTP_THREADS=64 \
    PARLEY_LLM_TIMEOUT_SECONDS=600
"$B/freshness" --db "$DBURL" --word "$FRESH_WORD" --count "$FRESH_COUNT" \
    --timeout "$FRESH_WIN" --out "$T/fresh.seen" \
    >"$T/fresh.out" 2>&1 &
FRESH_PID=$!
PIDS+=("$FRESH_PID")
"${LG[@]}" --connections 16 --rate "$FRESH_RATE" --count "$FRESH_COUNT" \
    --senders "$FRESH_COUNT" --sender-base 4000000 --duration 30 \
    --body-prefix "$FRESH_WORD" \
    --sid-prefix "$(printf '%016x' $((RANDOM * 65536 + RANDOM)))" \
    --record "$T/fresh.rec" >"$T/fresh.lg"
wait "$FRESH_PID" || die "bench/freshness failed: $(tail -3 "$T/fresh.out")"
grep '^loadgen:' "$T/fresh.lg" >&2
# Per 2xx webhook: first found minus its 2xx (s); not found counts as
# the poll's whole window, so it cannot flatter the percentiles.
awk -v win="$FRESH_WIN" '
    FILENAME == ARGV[1] { seen[$1] = $2; next }
    $5 >= 200 && $5 < 300 { if ($1 in seen) print (seen[$1] - $4) / 1e6, 1; else print win, 0 }
' "$T/fresh.seen" "$T/fresh.rec" | sort -g >"$T/fresh.lag"
read -r F_OK F_FOUND F_P50 F_P99 F_MAX < <(awk '
    { d[NR] = $1; found += $2 }
    function pct(p,  k) { k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; return d[k] }
    END { if (NR == 0) { print 0, 0, -1, -1, -1; exit }
          printf "%d %d %.2f %.2f %.2f\n", NR, found, pct(50), pct(99), d[NR] }' "$T/fresh.lag")
say "   $F_FOUND of $F_OK accepted messages found by search; 2xx to found: p50 $F_P50 s, p99 $F_P99 s, max $F_MAX s ($(cat "$T/fresh.out"))"
stop_parley "$LLM_DELAY_MS"

# =============================================================================
# the table
# =============================================================================
pf() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
RATIO=$(awk -v a="$MAX_RPS" -v b="$PG_TPS" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
RATIO_B=$(awk -v a="$MAX_RPS" -v b="$PGB_MPS" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
ROWS=(
"ingest: parley max rate, $CONNS conns closed loop|$(printf '%.0f' "$MAX_RPS") req/s (p50 $MAX_P50 ms, p99 $MAX_P99 ms; non-2xx $MAX_NON2XX, errors $MAX_ERR)|-|info"
"${PGB_ROWS[@]}"
"ingest: parley / pgbench ceiling ($(printf '%.0f' "$PG_TPS") tps, $PG_BEST clients)|${RATIO}x|>= 1.00x|$(pf "$(awk -v r="$RATIO" 'BEGIN{print (r >= 1.0)}')")"
"ingest: parley / $PG_BATCH-per-transaction ceiling ($PGB_MPS msg/s, $PGB_BEST clients)|${RATIO_B}x|>= 0.90x|$(pf "$(awk -v r="$RATIO_B" 'BEGIN{print (r >= 0.9)}')")"
"ingest: parley CPU per webhook (its own, at max rate)|$MAX_SRV_US us|<= 80 us|$(pf "$(awk -v u="$MAX_SRV_US" -v n="$MAX_N" 'BEGIN{print (n > 0 && u <= 80)}')")"
"ingest: PostgreSQL CPU per message|$MAX_PG_US us at parley's max rate (pgbench: $PG_US us at 1/transaction, $PGB_US us at $PG_BATCH/transaction)|-|info"
"ingest: group commit batch at max rate|$GC_BATCH|-|info"
"ingest: write calls per webhook response|$WRITES|-|info"
"ingest: p99 at half rate ($HALF req/s open loop)|$HALF_P99 ms (p50 $HALF_P50 ms; achieved $(printf '%.0f' "$HALF_RPS") req/s, non-2xx $HALF_NON2XX)|< 10 ms|$(pf "$(awk -v p="$HALF_P99" -v n="$HALF_NON2XX" 'BEGIN{print (p < 10 && n == 0)}')")"
"ingest: server RSS (VmRSS / VmHWM)|$((RSS_KB / 1024)) / $((HWM_KB / 1024)) MiB|< 64 MiB|$(pf "$([ "$HWM_KB" -lt 65536 ] && echo 1 || echo 0)")"
"ingest: CPU at max rate (PG / parley / loadgen / other)|${MAX_PG_CPU}% / ${MAX_SRV_CPU}% / ${MAX_LG_CPU}% / ${MAX_OTHER}% of ${NCPU}00%|other ~0|info"
"ingest: database work at max rate|$MAX_DB|-|info"
"ingest diag: max rate with client quick-ACK|$(printf '%.0f' "$Q_RPS") req/s (p50 $Q_P50 ms, p99 $Q_P99 ms; CPU PG ${Q_PG}% parley ${Q_SRV}% other ${Q_OTHER}%)|-|info"
"reply: replies sent at the fake|$R_SENT / $REPLY_CHATS (duplicates $R_DUP; inbound: $R_IN accepted in ${R_IN_S} s)|$REPLY_CHATS, no duplicate|$(pf "$([ "$R_SENT" = "$REPLY_CHATS" ] && [ "$R_DUP" = 0 ] && echo 1 || echo 0)")"
"reply: last send after last inbound 200|$R_LAST s|<= 6 s|$(pf "$(awk -v s="$R_LAST" -v n="$R_SENT" -v w="$REPLY_CHATS" 'BEGIN{print (s >= 0 && s <= 6 && n == w)}')")"
"reply: parley overhead per reply (e2e - LLM, debounce off)|p99 $R_OV99 ms (p50 $R_OV50; before LLM p50/p99 $R_PRE50/$R_PRE99, after $R_POST50/$R_POST99)|p99 < 100 ms|$(pf "$(awk -v p="$R_OV99" 'BEGIN{print (p >= 0 && p < 100)}')")"
"reply: PG transactions per answered turn (all of the phase: ingest, turns, idle pool)|$R_XPT|<= 6|$(pf "$(awk -v x="$R_XPT" 'BEGIN{print (x > 0 && x <= 6)}')")"
"reply: webhook latency during the 1,000-chat burst|p99 $R_WH99 ms (p50 $R_WH50 ms)|p99 < 50 ms|$(pf "$(awk -v p="$R_WH99" 'BEGIN{print (p >= 0 && p < 50)}')")"
"burst: $BURST_CHATS chats x 3 messages 300 ms apart, 2 s model|$B_COVERED3 of $B_CHATS chats answered once covering their 3 messages; $B_LEFT messages not covered, $B_UNSETTLED unsettled; $B_LLM model calls, $B_SENDS sends; $B_IN/$((BURST_CHATS * 3)) webhooks 2xx (p99 $B_WH99 ms); $B_XPT PG transactions per turn|$BURST_CHATS covering 3, 0 left|$(pf "$([ "$B_COVERED3" = "$BURST_CHATS" ] && [ "$B_LEFT" = 0 ] && [ "$B_UNSETTLED" = 0 ] && [ "$B_SENDS" = "$BURST_CHATS" ] && echo 1 || echo 0)")"
"search freshness: webhook 2xx to found by search ($F_FOUND of $F_OK found; $FRESH_COUNT chats at $FRESH_RATE req/s)|p99 $F_P99 s (p50 $F_P50 s, max $F_MAX s)|p99 <= 5 s|$(pf "$(awk -v p="$F_P99" -v f="$F_FOUND" -v n="$F_OK" -v w="$FRESH_COUNT" 'BEGIN{print (p >= 0 && p <= 5 && f == n && n == w)}')")"
"reply: database work|$R_DB|-|info"
"reply: idle pool, $REPLY_WORKERS workers, no jobs|$IDLE|-|info"
"reply: CPU over the phase (PG / parley / other)|${R_PG}% / ${R_SRV}% / ${R_OTHER}% of ${NCPU}00%; parley $REPLY_THREADS threads, VmHWM $((REPLY_HWM / 1024)) MiB|-|info"
)
echo
echo "Parley benchmarks — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(($(date +%s) - T_START)) s, load average before $LOAD_BEFORE"
NOISY=$(awk -v a="$MAX_OTHER" -v b="$Q_OTHER" -v c="$HALF_OTHER" -v d="$R_OTHER" \
    'BEGIN{m = a; if (b > m) m = b; if (c > m) m = c; if (d > m) m = d; print m}')
if [ "$NOISY" -gt 25 ]; then
    echo "WARNING: other processes used up to ${NOISY}% CPU during the measured phases (of ${NCPU}00%):"
    echo "         these numbers understate Parley; run again on a quiet machine."
fi
printf '%s\n' "${ROWS[@]}" | awk -F'|' '
    { for (i = 1; i <= 4; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END {
        split("measurement|value|target|result", h, "|")
        for (i = 1; i <= 4; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
        printf "| %-*s | %-*s | %-*s | %-*s |\n", w[1], h[1], w[2], h[2], w[3], h[3], w[4], h[4]
        printf "|%s|%s|%s|%s|\n", dash(w[1]), dash(w[2]), dash(w[3]), dash(w[4])
        for (r = 1; r <= NR; r++)
            printf "| %-*s | %-*s | %-*s | %-*s |\n", w[1], c[r,1], w[2], c[r,2], w[3], c[r,3], w[4], c[r,4]
    }
    function dash(n,  s) { s = ""; while (n-- > -2) s = s "-"; return s }'
