#!/usr/bin/env bash
# bench/run_streaming.sh - `make bench`, part 2: streamed deltas/s through adk_streaming on
# the Redis transport, against redis-benchmark on the same Redis as the ceiling.
#
# One redis-server (127.0.0.1, free port, --save '' --appendonly no) and one agentex-dev
# (the backend of POST/PUT /messages; release build) are started, then:
#  1. ceiling: redis-benchmark XADD bench:x MAXLEN ~ 10000 * data <155-byte update JSON>
#     with 50 clients, pipeline 16 (the XADD ceiling of the goal); the same with 1 client,
#     no pipeline (one publisher's round-trip bound, for reference); SET with pipeline 16;
#  2. ours: $BUILD/bin/stream_bench (tools/stream_bench.c) opens one streamed message per
#     mode (off, per_token, coalesced), submits STREAM_DELTAS text deltas of
#     STREAM_DELTA_BYTES bytes, closes it, and verifies in Redis that nothing was lost;
#  3. the XADD ceiling again with a payload as large as ours (parent_task_message inside).
#
# deltas/s = deltas submitted by the agent (adk_streaming_text calls) / seconds from the
# first delta to the return of adk_streaming_close, which drains the coalescing buffer and
# XADDs "done": every delta is in Redis inside the measured time (checked afterwards with
# XLEN + XRANGE: entry count, order, and the concatenated delta texts).  entries/s = XADDed
# stream entries / the same seconds.  Each publish is XADD ... MAXLEN ~ + EXPIRE, as the
# Python SDK does.
# Goal: coalesced deltas/s >= 50% of the redis-benchmark XADD ceiling (1).
#
# Bounded time (every step under `timeout`), loopback only; only PIDs this script started
# are stopped.  Builds nothing (the Makefile's bench target depends on `all`).
# Needs: redis-server, redis-benchmark, redis-cli (Debian: apt-get install -y redis-server)
# Env: BUILD (build)  STREAM_DELTAS (50000, at most 99999 so that deltas keep their size)
#      STREAM_DELTA_BYTES (6)  REDIS_BENCH_N (200000)  BENCH_STRICT=1: exit 1 if the goal
#      is not met
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD;; esac
DEV_BIN=$BUILD/bin/agentex-dev
DRIVER=$BUILD/bin/stream_bench
DELTAS=${STREAM_DELTAS:-50000}
DBYTES=${STREAM_DELTA_BYTES:-6}
RB_N=${REDIS_BENCH_N:-200000}

echo "== streaming benchmark (adk_streaming over Redis vs redis-benchmark)"
for b in redis-server redis-benchmark redis-cli; do
  command -v "$b" >/dev/null || { echo "streaming bench: SKIPPED ($b not installed: apt-get install -y redis-server)"; exit 0; }
done
for b in "$DEV_BIN" "$DRIVER"; do
  [ -x "$b" ] || { echo "streaming bench: $b missing (run make first)" >&2; exit 1; }
done

OUT=$(mktemp -d)
REDIS_PID= DEV_PID=
cleanup() {
  [ -n "$DEV_PID" ] && kill "$DEV_PID" 2>/dev/null && wait "$DEV_PID" 2>/dev/null
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- redis-server -------------------------------------------------------------------------
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do
  redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$RPORT" ping >/dev/null 2>&1 || { echo "streaming bench: redis-server did not start" >&2; exit 1; }
REDIS_VER=$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')

# ---- agentex-dev ---------------------------------------------------------------------------
mkfifo "$OUT/dev.fifo"
"$DEV_BIN" --port 0 --log-level warn >"$OUT/dev.fifo" 2>"$OUT/dev.err" &
DEV_PID=$!
exec 3<"$OUT/dev.fifo"
LINE=
read -r -t 10 LINE <&3 || true
case "$LINE" in
  "agentex-dev listening on "*) BASE=${LINE#agentex-dev listening on } ;;
  *) echo "streaming bench: agentex-dev did not start: $LINE $(cat "$OUT/dev.err")" >&2; exit 1 ;;
esac
# keep the pipe drained (nothing more is printed, but never block the server)
cat <&3 >/dev/null &
exec 3<&-

# ---- helpers -------------------------------------------------------------------------------
# rps of a redis-benchmark --csv run (the second-to-... field: rps is 7th from the end)
rb_rps() {
  timeout 120 redis-benchmark -p "$RPORT" --csv "$@" 2>/dev/null |
    awk -F'","' 'NR > 1 && NF >= 8 { v = $(NF-6) } END { gsub(/"/, "", v); print (v == "" ? 0 : v) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "n/a" }'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# a TaskMessageUpdate delta as the SDK writes it, 155 bytes
J155='{"type":"delta","index":null,"delta":{"type":"text","text_delta":"tok "},"parent_task_message":{"id":"66a1f0c2b9e4d83a17c5e902","task_id":"b3e0f7d2-8c41"}}'

echo "redis-server $REDIS_VER on 127.0.0.1:$RPORT; agentex-dev at $BASE"
echo "ceiling (redis-benchmark, -n $RB_N):"
XADD_CEIL=$(rb_rps -n "$RB_N" -c 50 -P 16 XADD bench:x MAXLEN '~' 10000 '*' data "$J155")
XADD_C1=$(rb_rps -n $((RB_N / 10)) -c 1 -P 1 XADD bench:y MAXLEN '~' 10000 '*' data "$J155")
SET_CEIL=$(rb_rps -n "$RB_N" -c 50 -P 16 -t set)
printf '  %-52s %12.0f /s\n' "XADD MAXLEN ~ 10000, ${#J155} B, 50 clients, -P 16" "$XADD_CEIL"
printf '  %-52s %12.0f /s\n' "XADD MAXLEN ~ 10000, ${#J155} B, 1 client, no pipeline" "$XADD_C1"
printf '  %-52s %12.0f /s\n' "SET, 50 clients, -P 16" "$SET_CEIL"

echo "ours (stream_bench: one streamed message per mode, $DELTAS deltas of $DBYTES B, Redis transport):"
DRV_OUT=$(timeout 300 "$DRIVER" --base-url "$BASE" --redis-url "redis://127.0.0.1:$RPORT" \
            --deltas "$DELTAS" --delta-bytes "$DBYTES" 2>"$OUT/driver.err")
DRV_RC=$?
printf '  %-10s %14s %14s %10s %14s %12s  %s\n' mode deltas/s entries/s entries "entry bytes" "vs XADD ceil" verified
status=0
COAL_RATIO=
ENTRY_BYTES=0
while read -r l; do
  [ -n "$l" ] || continue
  m=$(field mode "$l"); v=$(field verified "$l")
  d=$(field deltas_per_s "$l"); e=$(field entries_per_s "$l"); n=$(field entries "$l"); b=$(field entry_bytes "$l")
  [ "$v" = ok ] || status=1
  r=$(ratio "${d:-0}" "$XADD_CEIL")
  [ "$m" = coalesced ] && COAL_RATIO=$r
  [ "$m" = per_token ] && { ENTRY_BYTES=$b; PT_RATIO1=$(ratio "${d:-0}" "$XADD_C1"); }
  printf '  %-10s %14s %14s %10s %14s %11s%%  %s\n' "$m" "${d:--}" "${e:--}" "${n:--}" "${b:--}" "$r" "$v"
done <<<"$DRV_OUT"
[ "$DRV_RC" = 0 ] || { status=1; sed 's/^/  driver: /' "$OUT/driver.err"; }

[ -n "${PT_RATIO1:-}" ] && echo "  (per_token is one XADD+EXPIRE round trip per delta: ${PT_RATIO1}% of the 1-client XADD rate)"

# the ceiling with entries as large as ours
if [ "${ENTRY_BYTES:-0}" -gt 0 ] 2>/dev/null; then
  BIG=$(python3 -c "import sys; print('x' * int(sys.argv[1]))" "$ENTRY_BYTES")
  XADD_BIG=$(rb_rps -n "$RB_N" -c 50 -P 16 XADD bench:z MAXLEN '~' 10000 '*' data "$BIG")
  printf '  (reference: XADD with %s-byte entries like ours, 50 clients, -P 16: %.0f /s)\n' "$ENTRY_BYTES" "$XADD_BIG"
fi

echo "goal: coalesced deltas/s >= 50% of the XADD ceiling (${XADD_CEIL%.*} /s):"
if [ -n "$COAL_RATIO" ] && [ "$COAL_RATIO" != n/a ] && [ "$COAL_RATIO" -ge 50 ]; then
  echo "  coalesced ${COAL_RATIO}% of the ceiling: MET"
else
  echo "  coalesced ${COAL_RATIO:-?}% of the ceiling: NOT MET"
  [ "${BENCH_STRICT:-0}" = 1 ] && status=1
fi
[ "$status" = 0 ] || echo "streaming bench: FAILED (see above)"
exit $status
