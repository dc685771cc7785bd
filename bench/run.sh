#!/usr/bin/env bash
# bench/run.sh - `make bench`: the libagentex echo agent, the Python peer and the nginx
# ceiling, one after the other in one run, under the same load, on loopback only.
#
#  ours:      $BUILD/examples/echo_agent, registered with an nginx sink (bench/nginx_sink.conf.in:
#             POST /agents/register answers an agent_api_key, POST /messages is counted), loaded
#             by wrk + shared/bench/event_send.lua carrying that key as the backend does; once with
#             the default backlog limit and once with it lifted ("unbounded", like the peer);
#  peer:      shared/bench/peer_fastacp.py (FastAPI + uvicorn doing what the Python SDK does),
#             measured by the same function as ours, against the same sink;
#  ceiling:   nginx answering POST /api with a fixed ack (the practical HTTP ceiling);
#  client:    $BUILD/bin/client_bench (tools/client_bench.c): the CPU time of one handler's
#             backend call (adk_messages_create: libagentex's HTTP/1.1 on a libcurl connection) against the same request
#             written and read on a plain socket, on the server's CPU, against the sink;
#  openloop:  $BUILD/bin/openloop (tools/openloop.c): latency at fixed request rates
#             (OPENLOOP_RATES), 32 connections, each request timed from its due time, for ours
#             (default limit), nginx's fixed ack and the peer (at rates up to PEER_OPENLOOP_MAX):
#             wrk measures latency at saturation, which is queueing; this is latency at a load
#             the server sustains;
#  floor:     $BUILD/bin/rss_floor (tools/rss_floor.c): libcurl and libwebsockets initialised
#             as an agent does, without libagentex code: the idle memory any such agent pays;
#             $BUILD/bin/rss_floor_lws, the same program linked with libwebsockets alone.
#
# CPU layouts (BENCH_LAYOUTS, both by default, the first is the reference for the targets):
#  split:   the server under test on the first CPU this script may use; wrk and the sink on the
#           others (wrk -t = their number).  Load generator and server do not compete for a CPU, as when they run on
#           different machines; every server gets the same single CPU.
#  shared:  no pinning, wrk -t$WRK_THREADS: the settings of shared/bench (run_peer.sh and
#           run_ceiling.sh), where wrk's threads and the server share every CPU.
#
# Reports acks/s, p50/p99, end-to-end handled/s (sink POST /messages count / (wrk time + drain
# time)), idle and loaded RSS, CPU time per ack of the serving thread (schedstat; steadier than
# the rates on a noisy machine), the ratios, and the targets marked met / NOT MET.
# Builds nothing (the Makefile's bench target depends on `all`).  Every wait is bounded, every
# server listens on 127.0.0.1, and only PIDs this script started are stopped.
# Needs (Debian 12): apt-get install -y wrk nginx-light curl python3-fastapi python3-uvicorn python3-httpx
# Env: BUILD (build)  SHARED_DIR (<repo>/../shared)  OUT_DIR (mktemp)
#      BENCH_LAYOUTS ("split shared")  BENCH_PARTS ("ours unbounded peer ceiling openloop client floor")
#      OPENLOOP_RATES ("500 5000" requests/s)  OPENLOOP_SECONDS (5, max 20)  PEER_OPENLOOP_MAX (1000)
#      CLIENT_CALLS (20000: client_bench's calls per way)
#      WRK_THREADS (2, shared layout) WRK_CONNS (32) WRK_DURATION (10, max 20)  DRAIN_MAX (20 s)
#      OURS_PORT (18090) SINK_PORT (18091) PEER_PORT (18080) CEIL_PORT (18082) FLOOR_PORT (18093)
#      NGINX_WORKERS ("1 2", shared layout; split runs 1)  UNBOUNDED_PENDING (100000000)
#      PYTHON (/usr/bin/python3)  BENCH_STRICT=1: exit 1 when a target is not met
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD;; esac
AGENT_BIN=$BUILD/examples/echo_agent
FLOOR_BIN=$BUILD/bin/rss_floor
FLOOR_LWS_BIN=$BUILD/bin/rss_floor_lws
CLIENT_BIN=$BUILD/bin/client_bench
OPENLOOP_BIN=$BUILD/bin/openloop
PARTS=" ${BENCH_PARTS:-ours unbounded peer ceiling openloop client floor} "
OPENLOOP_RATES=${OPENLOOP_RATES:-500 5000}
OPENLOOP_SECONDS=${OPENLOOP_SECONDS:-5}
PEER_OPENLOOP_MAX=${PEER_OPENLOOP_MAX:-1000}
LAYOUTS=${BENCH_LAYOUTS:-split shared}
UNBOUNDED_PENDING=${UNBOUNDED_PENDING:-100000000}
PYTHON=${PYTHON:-/usr/bin/python3}

# shared/ sits beside the repository; in a git worktree, beside the main checkout
find_shared() {
  local top common
  [ -n "${SHARED_DIR:-}" ] && { echo "$SHARED_DIR"; return; }
  top=$(git -C "$SRC" rev-parse --show-toplevel 2>/dev/null || echo "$SRC")
  [ -d "$top/../shared/bench" ] && { (cd "$top/../shared" && pwd); return; }
  common=$(git -C "$SRC" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)
  [ -n "$common" ] && [ -d "$common/../../shared/bench" ] && { (cd "$common/../../shared" && pwd); return; }
  echo "$top/../shared"
}
SHARED=$(find_shared)
[ -f "$SHARED/bench/lib.sh" ] || { echo "bench: $SHARED/bench/lib.sh not found (set SHARED_DIR to the shared/ folder)" >&2; exit 1; }
for b in "$AGENT_BIN" "$FLOOR_BIN" "$FLOOR_LWS_BIN" "$CLIENT_BIN" "$OPENLOOP_BIN"; do
  [ -x "$b" ] || { echo "bench: $b not found: run make first" >&2; exit 1; }
done

BENCH_DIR=$HERE                  # lib.sh's start_nginx reads $BENCH_DIR/nginx_sink.conf.in
. "$SHARED/bench/lib.sh"
need wrk wrk; need curl curl; need nginx nginx-light; need taskset util-linux
case "$PARTS" in *" peer "*)
  "$PYTHON" -c 'import fastapi, uvicorn, httpx' 2>/dev/null \
    || die "$PYTHON lacks fastapi/uvicorn/httpx (apt-get install -y python3-fastapi python3-uvicorn python3-httpx)";;
esac

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/agentex-bench.XXXXXX)}
mkdir -p "$OUT_DIR"
export WRK_CONNS=${WRK_CONNS:-32} WRK_DURATION=${WRK_DURATION:-10}
SHARED_WRK_THREADS=${WRK_THREADS:-2}
export WRK_METHOD=event/send
[ "$WRK_DURATION" -le 20 ] || die "WRK_DURATION must be <= 20 s"
[ "$OPENLOOP_SECONDS" -le 20 ] || die "OPENLOOP_SECONDS must be <= 20 s"
DRAIN_MAX=${DRAIN_MAX:-20}
OURS_PORT=${OURS_PORT:-18090}
SINK_PORT=${SINK_PORT:-${OURS_SINK_PORT:-18091}}
PEER_PORT=${PEER_PORT:-18080}
CEIL_PORT=${CEIL_PORT:-18082}
FLOOR_PORT=${FLOOR_PORT:-18093}
NGINX_WORKERS=${NGINX_WORKERS:-1 2}
# the CPUs this script may use (its affinity, as nproc counts them), one per word
ORIG_CPUS=$(taskset -pc $$ | sed 's/.*: *//')
CPU_LIST=$(echo "$ORIG_CPUS" | tr ',' '\n' | awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }' | tr '\n' ' ')
NCPU=$(echo $CPU_LIST | wc -w)
# the key bench/nginx_sink.conf.in hands out at registration
AGENT_KEY=b3e1c0ffee0000000000000000000000000000000000000000000000000b3e1c
LUA=$SHARED/bench/event_send.lua
trap cleanup_started EXIT
trap 'cleanup_started; exit 130' INT TERM

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", b-a}'; }
# kv FILE KEY -> the last "KEY=value" found in FILE's RESULT lines
kv() { grep '^RESULT' "$1" 2>/dev/null | grep -o "\(^\| \)$2=[^ ]*" | tail -n1 | sed 's/^ *[^=]*=//'; }
count_lines() { if [ -f "$1" ]; then wc -l < "$1"; else echo 0; fi; }
# on_cpu_ns PID [TID]: nanoseconds the thread (default: the main thread) has run on a CPU
on_cpu_ns() { awk '{print $1}' "/proc/$1/task/${2:-$1}/schedstat" 2>/dev/null; }
# sum_cpu_ns PID...: the sum of their main threads' on_cpu_ns; empty when one is unknown
sum_cpu_ns() { local p v t=0; for p in "$@"; do v=$(on_cpu_ns "$p"); [ -n "$v" ] || return 0; t=$((t + v)); done; echo "$t"; }
# tid_named PID COMM: the thread of PID called COMM (ours names its service thread agx-httpd)
tid_named() { grep -lx "$2" /proc/"$1"/task/*/comm 2>/dev/null | head -n1 | awk -F/ '{print $5}'; }
# us_per N0 N1 COUNT: (N1 - N0) ns spread over COUNT, in microseconds
us_per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN{ if (a != "" && b != "" && n > 0) printf "%.1f", (b-a)/1000/n; else print "NA" }'; }

# ---- CPU layouts ----------------------------------------------------------------------------
# set_layout NAME: SERVER_RUN / LOAD_RUN are command prefixes, LOAD_CPUS the cpu list for
# pin_tree, WRK_T the wrk thread count
set_layout() {
  LAYOUT=$1
  case "$1" in
    split)
      [ "$NCPU" -ge 2 ] || die "the split layout needs 2 CPUs (this machine has $NCPU); use BENCH_LAYOUTS=shared"
      SERVER_CPUS=${CPU_LIST%% *}; LOAD_CPUS=$(echo ${CPU_LIST#* } | tr ' ' ','); WRK_T=$((NCPU - 1))
      SERVER_RUN=(taskset -c "$SERVER_CPUS"); LOAD_RUN=(taskset -c "$LOAD_CPUS")
      # this script and its helpers (curl, awk) stay off the server's CPU too
      taskset -pc "$LOAD_CPUS" $$ > /dev/null;;
    shared)
      SERVER_CPUS=; LOAD_CPUS=; WRK_T=$SHARED_WRK_THREADS
      SERVER_RUN=(); LOAD_RUN=()
      taskset -pc "$ORIG_CPUS" $$ > /dev/null;;
    *) die "unknown layout '$1' (BENCH_LAYOUTS takes split and shared)";;
  esac
}
# pin_tree PID CPUS: PID, its threads and its child processes (nginx's workers) onto CPUS
pin_tree() {
  [ -n "$2" ] || return 0
  local p
  for p in "$1" $(pgrep -P "$1"); do taskset -apc "$2" "$p" > /dev/null 2>&1; done
}
# load WRKFILE URL: wrk with the layout's placement; the agent key rides along as the
# backend sends it (the peer ignores it)
load() {
  timeout $(( WRK_DURATION + 10 )) "${LOAD_RUN[@]}" wrk -t"$WRK_T" -c"$WRK_CONNS" -d"${WRK_DURATION}s" \
    --timeout 5s --latency -H "x-agent-api-key: $AGENT_KEY" -s "$LUA" "$2" > "$1" 2>&1
}
start_sink() { # DIR: nginx sink on SINK_PORT, on the load CPUs
  start_nginx "$1" "$SINK_PORT" 1
  pin_tree "$NGINX_PID" "$LOAD_CPUS"
}

# ---- one agent server (ours or the peer) under load -----------------------------------------
# start_agent NAME KIND MAX_PENDING DIR: the sink (DIR/sink), then the agent; sets AGENT_PID,
# AGENT_PORT and SINK_PID, and waits for its /healthz
start_agent() {
  local name=$1 kind=$2 maxp=$3 dir=$4 t0
  start_sink "$dir/sink"; SINK_PID=$NGINX_PID
  t0=$(now)
  if [ "$kind" = ours ]; then
    AGENT_PORT=$OURS_PORT
    port_busy "$AGENT_PORT" && die "port $AGENT_PORT already in use"
    ACP_MAX_PENDING=$maxp AGENT_NAME=bench-echo ACP_PORT=$AGENT_PORT ACP_HOST=127.0.0.1 ACP_URL=http://127.0.0.1 \
      AGENTEX_BASE_URL=http://127.0.0.1:$SINK_PORT "${SERVER_RUN[@]}" "$AGENT_BIN" > "$dir/server.out" 2> "$dir/server.err" &
  else
    AGENT_PORT=$PEER_PORT
    port_busy "$AGENT_PORT" && die "port $AGENT_PORT already in use"
    SINK_URL=http://127.0.0.1:$SINK_PORT PEER_PORT=$AGENT_PORT PEER_HOST=127.0.0.1 \
      "${SERVER_RUN[@]}" "$PYTHON" "$SHARED/bench/peer_fastacp.py" > "$dir/server.out" 2> "$dir/server.err" &
  fi
  AGENT_PID=$!
  STARTED_PIDS+=("$AGENT_PID")
  wait_http "http://127.0.0.1:$AGENT_PORT/healthz" 30 || die "$name did not answer /healthz (see $dir/server.err)"
  echo "$name: pid=$AGENT_PID startup_s=$(sub "$t0" "$(now)") registrations=$(count_lines "$dir/sink/register_access.log")"
}

# run_server NAME KIND [MAX_PENDING]: KIND ours|peer; MAX_PENDING empty = the library's default
run_server() {
  local name=$1 kind=$2 maxp=${3:-} dir=$OUT_DIR/$LAYOUT/$1
  local sinkdir=$dir/sink ack rss_idle rss_end rss_max cpu0 cpu1 st0 st1 port
  local reqs n last_n last_t deadline drain_s sink e2e hz rss_anon pid sink_pid svc svc0 svc1
  mkdir -p "$dir"
  start_agent "$name" "$kind" "$maxp" "$dir"
  pid=$AGENT_PID; port=$AGENT_PORT; sink_pid=$SINK_PID
  ack=$(curl -s --max-time 5 -H 'Content-Type: application/json' -H "x-agent-api-key: $AGENT_KEY" \
    "http://127.0.0.1:$port/api" -d \
    '{"jsonrpc":"2.0","id":7,"method":"event/send","params":{"agent":{"id":"agent-0001","name":"bench-echo","description":"d","acp_type":"async","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"},"task":{"id":"task-0001"},"event":{"id":"e","sequence_id":1,"task_id":"task-0001","agent_id":"agent-0001","content":{"type":"text","author":"user","content":"hi"}}}}')
  echo "$name: sanity ack: $ack"
  case "$ack" in *'"status":"processing"'*'"id":7'*|*'"id":7'*'"status":"processing"'*) ;;
    *) die "$name: unexpected ack to event/send (see $dir/server.err)";; esac
  sleep 1
  [ "$(count_lines "$sinkdir/sink_access.log")" -ge 1 ] || echo "$name: warning: the sanity event reached no POST /messages yet"
  rss_idle=$(rss_kb "$pid")
  # VmRSS counts the shared libraries' pages the process touched; Anonymous is its own memory
  rss_anon=$(awk '/^Anonymous:/ {t += $2} END {print t + 0}' "/proc/$pid/smaps_rollup" 2>/dev/null)

  # the serving thread: ours answers on agx-httpd; the peer's event loop is its main thread
  svc=$pid; [ "$kind" = ours ] && svc=$(tid_named "$pid" agx-httpd)
  cpu0=$(cpu_ticks "$pid")
  st0=$(stat_snap); svc0=$(on_cpu_ns "$pid" "$svc")
  load "$dir/wrk.txt" "http://127.0.0.1:$port/api"
  st1=$(stat_snap); svc1=$(on_cpu_ns "$pid" "$svc")
  # the peak under load is the kernel's high-water mark, read once: a sampling loop forks
  # every few hundred ms and, on the load CPU, delays wrk (p99 rose from 1.8 to 3.2 ms)
  rss_end=$(rss_kb "$pid")
  rss_max=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
  grep -E 'Requests/sec|WRKSTATS' "$dir/wrk.txt"
  reqs=$(wrkstat "$dir/wrk.txt" requests)
  [ -n "$reqs" ] || die "wrk printed no WRKSTATS line (see $dir/wrk.txt)"

  # drain: every acknowledged event becomes one POST /messages; wait until the count reaches
  # wrk's requests + the sanity one, or stops growing for 2 s (bounded by DRAIN_MAX)
  local tw; tw=$(now); last_n=-1; last_t=$tw; deadline=$(( $(date +%s) + DRAIN_MAX ))
  while :; do
    n=$(count_lines "$sinkdir/sink_access.log")
    if [ "$n" != "$last_n" ]; then last_n=$n; last_t=$(now); fi
    [ "$n" -ge $(( reqs + 1 )) ] && break
    awk -v a="$last_t" -v b="$(now)" 'BEGIN{exit !(b - a >= 2)}' && break
    [ "$(date +%s)" -ge "$deadline" ] && { echo "$name: still draining after ${DRAIN_MAX} s (counted so far)"; break; }
    sleep 0.1
  done
  drain_s=$(sub "$tw" "$last_t")
  cpu1=$(cpu_ticks "$pid")
  sink=$(grep -c '^POST 200' "$sinkdir/sink_access.log")   # before the stop: what the window saw
  stop_pid "$pid"              # SIGTERM: acp_server_run stops and drains
  stop_pid "$sink_pid" QUIT
  hz=$(getconf CLK_TCK)
  e2e=$(awk -v n="$sink" -v d="$(wrkstat "$dir/wrk.txt" duration_s)" -v e="$drain_s" 'BEGIN{printf "%.1f", n/(d+e)}')
  {
    echo "RESULT $name layout=$LAYOUT kind=$kind max_pending=${maxp:-default} wrk=-t$WRK_T -c$WRK_CONNS -d${WRK_DURATION}s method=$WRK_METHOD server_cpus=${SERVER_CPUS:-all}"
    echo "RESULT rps=$(wrkstat "$dir/wrk.txt" rps) p50_ms=$(wrkstat "$dir/wrk.txt" p50_ms) p99_ms=$(wrkstat "$dir/wrk.txt" p99_ms) requests=$reqs non2xx=$(wrkstat "$dir/wrk.txt" non2xx) sockerr=$(wrkstat "$dir/wrk.txt" sockerr)"
    echo "RESULT cpu_steal_during_wrk_pct=$(steal_pct "$st0" "$st1")"
    echo "RESULT rss_idle_kb=$rss_idle rss_idle_anon_kb=$rss_anon rss_load_max_kb=$rss_max rss_after_load_kb=$rss_end server_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v h="$hz" 'BEGIN{printf "%.2f",(b-a)/h}')"
    echo "RESULT sink_posts=$sink drain_s=$drain_s end_to_end_rps=$e2e (sink POSTs / (wrk duration + drain time))"
    # CPU per handled event only when every acknowledged event was handled in the window
    # (a cut drain leaves acks whose handling the CPU time does not include)
    local per_handled=NA
    [ "$sink" -ge "$reqs" ] && per_handled=$(us_per 0 "$(awk -v a="$cpu0" -v b="$cpu1" -v h="$hz" 'BEGIN{printf "%.0f", (b-a)*1e9/h}')" "$sink")
    echo "RESULT svc_us_per_ack=$(us_per "$svc0" "$svc1" "$reqs") (CPU time of the serving thread during wrk / requests) cpu_us_per_handled=$per_handled (process CPU time / sink POSTs, when the drain completed)"
  } | tee "$dir/result.txt"
  cleanup_started
}

# ---- nginx fixed ack ------------------------------------------------------------------------
run_ceiling() { # WORKERS
  local w=$1 dir=$OUT_DIR/$LAYOUT/ceiling_w$1 st0 st1 a b
  port_busy "$CEIL_PORT" && die "port $CEIL_PORT already in use"
  start_nginx "$dir" "$CEIL_PORT" "$w"
  pin_tree "$NGINX_PID" "$SERVER_CPUS"
  st0=$(stat_snap)
  a=$(sum_cpu_ns $(pgrep -P "$NGINX_PID"))
  load "$dir/wrk.txt" "http://127.0.0.1:$CEIL_PORT/api"
  b=$(sum_cpu_ns $(pgrep -P "$NGINX_PID"))
  st1=$(stat_snap)
  stop_pid "$NGINX_PID" QUIT
  grep -E 'Requests/sec|WRKSTATS' "$dir/wrk.txt"
  echo "RESULT nginx_ceiling layout=$LAYOUT workers=$w wrk=-t$WRK_T -c$WRK_CONNS -d${WRK_DURATION}s rps=$(wrkstat "$dir/wrk.txt" rps) p50_ms=$(wrkstat "$dir/wrk.txt" p50_ms) p99_ms=$(wrkstat "$dir/wrk.txt" p99_ms) non2xx=$(wrkstat "$dir/wrk.txt" non2xx) sockerr=$(wrkstat "$dir/wrk.txt" sockerr) cpu_steal_pct=$(steal_pct "$st0" "$st1") svc_us_per_ack=$(us_per "$a" "$b" "$(wrkstat "$dir/wrk.txt" requests)")" \
    | tee "$dir/result.txt"
  cleanup_started
}

# ---- latency at a fixed rate ------------------------------------------------------------------
# run_openloop NAME KIND RATE: KIND ours (default limit, its sink) | peer | nginx (fixed ack);
# openloop on the load CPUs, the server on the layout's server CPUs
run_openloop() {
  local name=$1 kind=$2 rate=$3 dir=$OUT_DIR/$LAYOUT/openloop_$1_$3 port
  mkdir -p "$dir"
  if [ "$kind" = nginx ]; then
    port_busy "$CEIL_PORT" && die "port $CEIL_PORT already in use"
    start_nginx "$dir" "$CEIL_PORT" 1
    pin_tree "$NGINX_PID" "$SERVER_CPUS"
    port=$CEIL_PORT
  else
    start_agent "$name" "$kind" "" "$dir"
    port=$AGENT_PORT
  fi
  timeout $(( OPENLOOP_SECONDS + 20 )) "${LOAD_RUN[@]}" "$OPENLOOP_BIN" -r "$rate" -c "$WRK_CONNS" \
    -d "$OPENLOOP_SECONDS" -H "x-agent-api-key: $AGENT_KEY" "http://127.0.0.1:$port/api" \
    > "$dir/openloop.out" 2> "$dir/openloop.err" \
    || die "openloop against $name failed: $(head -n1 "$dir/openloop.err")"
  grep '^RESULT openloop' "$dir/openloop.out" | sed "s/^RESULT openloop/RESULT openloop server=$name layout=$LAYOUT/" \
    | tee "$dir/result.txt"
  cleanup_started
}

# ---- the dependencies' memory floor ---------------------------------------------------------
# floor_one NAME BIN DIR [URL]: starts BIN on FLOOR_PORT, waits for its "ready", then prints
# its idle VmRSS and anonymous memory as "RESULT NAME ..." into DIR/NAME.txt, and stops it
floor_one() {
  local name=$1 bin=$2 dir=$3 pid i
  "$bin" "$FLOOR_PORT" ${4:+"$4"} > "$dir/$name.out" 2> "$dir/$name.err" &
  pid=$!
  STARTED_PIDS+=("$pid")
  for i in $(seq 1 100); do grep -q '^ready' "$dir/$name.out" 2>/dev/null && break; sleep 0.05; done
  grep -q '^ready' "$dir/$name.out" || die "$(basename "$bin") did not start (see $dir/$name.err)"
  sleep 1
  echo "RESULT $name rss_idle_kb=$(rss_kb "$pid") rss_idle_anon_kb=$(awk '/^Anonymous:/ {t += $2} END {print t + 0}' "/proc/$pid/smaps_rollup")" \
    | tee "$dir/$name.txt"
  stop_pid "$pid"
}
run_floor() {
  local dir=$OUT_DIR/floor
  mkdir -p "$dir"
  start_sink "$dir/sink"
  port_busy "$FLOOR_PORT" && die "port $FLOOR_PORT already in use"
  floor_one floor "$FLOOR_BIN" "$dir" "http://127.0.0.1:$SINK_PORT/agents/register"
  # libwebsockets alone: what the ACP server's mandated dependency costs before any other
  floor_one floor_lws "$FLOOR_LWS_BIN" "$dir"
  cleanup_started
}

# ---- one backend call of a handler: libagentex's client against a plain socket ----------------
# On the server's CPU of the split layout (the sink on the others), as the echo agent's
# handler runs; CPU time of the calling thread only.
run_client() {
  local dir=$OUT_DIR/client
  mkdir -p "$dir"
  start_sink "$dir/sink"
  "${SERVER_RUN[@]}" "$CLIENT_BIN" "http://127.0.0.1:$SINK_PORT" "${CLIENT_CALLS:-20000}" \
    > "$dir/client.out" 2> "$dir/client.err" || die "client_bench failed: $(head -n1 "$dir/client.err")"
  grep '^RESULT' "$dir/client.out" | tee "$dir/result.txt"
  cleanup_started
}

if [ "$NCPU" -lt 2 ] && [[ " $LAYOUTS " == *" split "* ]]; then
  echo "bench: 1 CPU: the split layout needs 2, running the shared layout only"
  LAYOUTS=shared
fi
echo "bench: out dir $OUT_DIR; layouts: $LAYOUTS; wrk -c$WRK_CONNS -d${WRK_DURATION}s, $WRK_METHOD bodies from $LUA; $NCPU CPUs"
for L in $LAYOUTS; do
  set_layout "$L"
  echo "== layout $L: $([ "$L" = split ] && echo "servers on CPU $SERVER_CPUS, wrk -t$WRK_T and the sink on CPU $LOAD_CPUS" || echo "no pinning, wrk -t$WRK_T")"
  case "$PARTS" in *" ours "*) echo "-- libagentex echo_agent, default backlog limit"; run_server ours ours "";; esac
  case "$PARTS" in *" unbounded "*) echo "-- libagentex echo_agent, ACP_MAX_PENDING=$UNBOUNDED_PENDING (no backpressure within the run, like the peer)"
    run_server unbounded ours "$UNBOUNDED_PENDING";; esac
  case "$PARTS" in *" peer "*) echo "-- Python peer (FastAPI + uvicorn)"; run_server peer peer;; esac
  case "$PARTS" in *" ceiling "*)
    ws=$NGINX_WORKERS; [ "$L" = split ] && ws=1
    for w in $ws; do echo "-- nginx fixed ack, $w worker(s)"; run_ceiling "$w"; done;; esac
  case "$PARTS" in *" openloop "*)
    for r in $OPENLOOP_RATES; do
      echo "-- open loop, $r requests/s for ${OPENLOOP_SECONDS} s over $WRK_CONNS connections"
      run_openloop ours ours "$r"
      run_openloop nginx nginx "$r"
      [ "$r" -le "$PEER_OPENLOOP_MAX" ] && case "$PARTS" in *" peer "*) run_openloop peer peer "$r";; esac
    done;; esac
done
case "$PARTS" in *" client "*)
  if [ "$NCPU" -ge 2 ]; then set_layout split; else set_layout shared; fi
  echo "== one handler backend call (POST /messages): libagentex's client vs a plain socket, layout $LAYOUT"
  run_client;; esac
case "$PARTS" in *" floor "*) echo "== memory floor: libcurl + libwebsockets initialised, no libagentex code"; run_floor;; esac

# ---- summary --------------------------------------------------------------------------------
row() { printf '%-34s %9s %8s %8s %10s %9s %9s %9s\n' "$@"; }
fmt_mib() { [ -n "$1" ] && [ "$1" != NA ] && awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}' || echo -; }
val() { [ -n "$1" ] && echo "$1" || echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "NA" }'; }
target() { # NAME VALUE-TEXT OK(0/1/NA)
  case "$3" in 1) m="met";; 0) m="NOT MET"; echo 1 > "$OUT_DIR/unmet";; *) m="not measured";; esac
  printf '  %-42s %-26s %s\n' "$1" "$2" "$m"
}
F=$OUT_DIR/floor/floor.txt
floor_kb=$(kv "$F" rss_idle_kb)
FL=$OUT_DIR/floor/floor_lws.txt
floor_lws_kb=$(kv "$FL" rss_idle_kb)
{
  for L in $LAYOUTS; do
    D=$OUT_DIR/$L
    echo
    echo "== summary, layout $L: wrk -c$WRK_CONNS -d${WRK_DURATION}s, $WRK_METHOD, 127.0.0.1, $NCPU CPUs ($(date -u +%Y-%m-%dT%H:%MZ))"
    row "server" "acks/s" "p50 ms" "p99 ms" "handled/s" "RSS idle" "(anon)" "RSS load"
    row "" "" "" "" "(e2e)" "MiB" "MiB" "MiB"
    for f in "ours:libagentex echo_agent (default)" "unbounded:libagentex, backlog unbounded" "peer:Python peer (FastAPI)"; do
      R=$D/${f%%:*}/result.txt
      [ -f "$R" ] || continue
      row "${f#*:}" "$(val "$(kv "$R" rps)")" "$(val "$(kv "$R" p50_ms)")" "$(val "$(kv "$R" p99_ms)")" \
        "$(val "$(kv "$R" end_to_end_rps)")" "$(fmt_mib "$(kv "$R" rss_idle_kb)")" "$(fmt_mib "$(kv "$R" rss_idle_anon_kb)")" \
        "$(fmt_mib "$(kv "$R" rss_load_max_kb)")"
    done
    for R in "$D"/ceiling_w*/result.txt; do
      [ -f "$R" ] || continue
      w=$(kv "$R" workers)
      row "nginx fixed ack ($w worker$([ "$w" = 1 ] || echo s))" "$(kv "$R" rps)" "$(kv "$R" p50_ms)" "$(kv "$R" p99_ms)" - - - -
    done
    [ -n "$floor_kb" ] && row "floor: libcurl + lws, no libagentex" - - - - "$(fmt_mib "$floor_kb")" "$(fmt_mib "$(kv "$F" rss_idle_anon_kb)")" -
    [ -n "$floor_lws_kb" ] && row "floor: libwebsockets alone" - - - - "$(fmt_mib "$floor_lws_kb")" "$(fmt_mib "$(kv "$FL" rss_idle_anon_kb)")" -
    for R in "$D"/*/result.txt; do
      grep -o 'non2xx=[1-9][0-9]*\|sockerr=[1-9][0-9]*' "$R" 2>/dev/null | sed "s#^#warning: $L/$(basename "$(dirname "$R")"): #"
    done
    # CPU time per request does not depend on how much CPU the machine left the server, so it
    # is steadier than the rates when the machine is noisy
    cpl=""
    for f in "ours:ours" "unbounded:ours unbounded" "peer:peer" "ceiling_w1:nginx"; do
      v=$(kv "$D/${f%%:*}/result.txt" svc_us_per_ack); [ -n "$v" ] && [ "$v" != NA ] && cpl="$cpl, ${f#*:} $v"
    done
    [ -n "$cpl" ] && echo "CPU us per ack, serving thread (ours: agx-httpd; peer: its event loop; nginx: its worker): ${cpl#, }"
    v=$(kv "$D/ours/result.txt" cpu_us_per_handled); [ -n "$v" ] && [ "$v" != NA ] && echo "CPU us per handled event, whole process, ours (default backlog limit): $v"
    steal=$(cat "$D"/*/result.txt 2>/dev/null | grep -o 'cpu_steal[a-z_]*=[0-9.]*' | cut -d= -f2 | tr '\n' ' ')
    [ -n "$steal" ] && echo "CPU steal during the wrk runs (%): $steal(high values make the figures noisy)"

    ol_rows=""
    for r in $OPENLOOP_RATES; do
      for n in ours nginx peer; do
        R=$D/openloop_${n}_$r/result.txt
        [ -f "$R" ] || continue
        [ -n "$ol_rows" ] || { echo "Open loop, $WRK_CONNS connections, ${OPENLOOP_SECONDS} s per rate (latency from each request's due time; tools/openloop.c):"
          printf '  %-30s %7s %9s %8s %8s %8s %7s\n' server req/s achieved "p50 ms" "p99 ms" "p99.9 ms" errors; ol_rows=1; }
        printf '  %-30s %7s %9s %8s %8s %8s %7s\n' "$(case $n in ours) echo "libagentex (default limit)";; nginx) echo "nginx fixed ack (1 worker)";; *) echo "Python peer";; esac)" \
          "$r" "$(kv "$R" achieved_rps)" "$(kv "$R" p50_ms)" "$(kv "$R" p99_ms)" "$(kv "$R" p999_ms)" "$(( $(kv "$R" errors) + $(kv "$R" non2xx) ))"
      done
    done
    peer_rps=$(kv "$D/peer/result.txt" rps)
    # what a user gets: events handled end to end (the peer's backlog is unbounded)
    a=$(kv "$D/ours/result.txt" end_to_end_rps); b=$(kv "$D/peer/result.txt" end_to_end_rps)
    [ -n "$a" ] && [ -n "$b" ] && echo "handled/s end to end, ours (default limit) / peer: $(ratio "$a" "$b")x ($a / $b)"
    ceil_rps=$(kv "$D/ceiling_w1/result.txt" rps)
    for f in "ours:default backlog limit (what an agent gets)" "unbounded:backlog unbounded (the ack path, like the peer)"; do
      R=$D/${f%%:*}/result.txt
      [ -f "$R" ] || continue
      echo "-- targets, layout $L, libagentex with the ${f#*:}"
      ours_rps=$(kv "$R" rps); ours_p99=$(kv "$R" p99_ms); ours_idle=$(kv "$R" rss_idle_kb)
      if [ -n "$ours_rps" ] && [ -n "$peer_rps" ]; then
        r=$(ratio "$ours_rps" "$peer_rps"); target "acks/s ours/peer >= 15x" "${r}x" "$(awk -v r="$r" 'BEGIN{print (r >= 15)}')"
      else target "acks/s ours/peer >= 15x" "-" NA; fi
      if [ -n "$ours_rps" ] && [ -n "$ceil_rps" ]; then
        r=$(ratio "$ours_rps" "$ceil_rps")
        target "acks/s ours/nginx (1 worker) >= 60%" "$(awk -v r="$r" 'BEGIN{printf "%.0f%%", 100*r}')" "$(awk -v r="$r" 'BEGIN{print (r >= 0.6)}')"
      else target "acks/s ours/nginx >= 60%" "-" NA; fi
      a=$(kv "$R" svc_us_per_ack); b=$(kv "$D/ceiling_w1/result.txt" svc_us_per_ack)
      if [ -n "$a" ] && [ "$a" != NA ] && [ -n "$b" ] && [ "$b" != NA ]; then
        r=$(ratio "$b" "$a")
        target "  same, by CPU per ack: nginx/ours >= 60%" "$(awk -v r="$r" 'BEGIN{printf "%.0f%%", 100*r}') ($b / $a us)" "$(awk -v r="$r" 'BEGIN{print (r >= 0.6)}')"
      fi
      if [ -n "$ours_p99" ]; then
        c99=$(kv "$D/ceiling_w1/result.txt" p99_ms)
        target "p99 < 1 ms at $WRK_CONNS connections" "$ours_p99 ms$([ -n "$c99" ] && echo " (nginx $c99)")" "$(awk -v p="$ours_p99" 'BEGIN{print (p < 1)}')"
      else target "p99 < 1 ms at $WRK_CONNS connections" "-" NA; fi
      if [ -n "$ours_idle" ]; then
        extra=""; [ -n "$floor_kb" ] && extra=" (floor $(fmt_mib "$floor_kb"))"
        target "idle RSS < 4 MiB" "$(fmt_mib "$ours_idle") MiB$extra" "$(awk -v k="$ours_idle" 'BEGIN{print (k < 4096)}')"
      else target "idle RSS < 4 MiB" "-" NA; fi
    done
    for r in $OPENLOOP_RATES; do
      R=$D/openloop_ours_$r/result.txt
      [ -f "$R" ] || continue
      echo "-- targets, layout $L, libagentex with the default backlog limit, open loop at $r requests/s"
      a=$(kv "$R" p99_ms); b=$(kv "$D/openloop_nginx_$r/result.txt" p99_ms)
      target "p99 < 1 ms at $WRK_CONNS connections" "$a ms$([ -n "$b" ] && echo " (nginx $b: $(ratio "$a" "$b")x)")" \
        "$(awk -v p="$a" 'BEGIN{print (p < 1)}')"
    done
  done
  C=$OUT_DIR/client/result.txt
  if [ -f "$C" ]; then
    cw() { grep "way=$1 " "$C" | grep -o "$2=[^ ]*" | cut -d= -f2; }
    echo
    echo "One handler backend call (POST /messages, keep-alive, CPU time of the calling thread):"
    printf '  %-46s %8s us CPU %8s us wall\n' "adk_messages_create, answer parsed" "$(cw sdk cpu_us_per_call)" "$(cw sdk wall_us_per_call)"
    printf '  %-46s %8s us CPU %8s us wall\n' "adk_messages_create, out NULL" "$(cw sdk_noout cpu_us_per_call)" "$(cw sdk_noout wall_us_per_call)"
    printf '  %-46s %8s us CPU %8s us wall\n' "the same request on a plain socket" "$(cw raw cpu_us_per_call)" "$(cw raw wall_us_per_call)"
  fi
  if [ -n "$floor_kb" ]; then
    echo
    echo "The floor process links the same shared libraries as echo_agent and only initialises libcurl"
    echo "(curl_global_init + one POST, as registration does) and a libwebsockets listener: an idle"
    echo "agent on Debian's libcurl and libwebsockets cannot use less than $(fmt_mib "$floor_kb") MiB of VmRSS."
    [ -n "$floor_lws_kb" ] && echo "Linked with libwebsockets alone (its listener, no libcurl) the same program holds $(fmt_mib "$floor_lws_kb") MiB."
  fi
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the $NCPU CPUs)"
  echo "logs in $OUT_DIR"
} | tee "$OUT_DIR/summary.txt"

if [ "${BENCH_STRICT:-0}" = 1 ] && [ -f "$OUT_DIR/unmet" ]; then exit 1; fi
exit 0
