#!/usr/bin/env bash
# bench/run.sh - `make bench`: the libagentex echo agent, the Python peer and the nginx
# ceiling, one after the other in one run, with the same load, on loopback only.
#
#  (a) ours:    $BUILD/examples/echo_agent registers with an nginx sink (bench/nginx_sink.conf.in:
#               POST /agents/register answers an agent_api_key, POST /messages is counted) and is
#               loaded with wrk + shared/bench/event_send.lua, carrying that key as the backend does;
#  (b) peer:    shared/bench/run_peer.sh (FastAPI + uvicorn doing what the Python SDK does);
#  (c) ceiling: shared/bench/run_ceiling.sh (nginx answering a fixed ack, 1 and 2 workers).
# Reports acks/s, p50/p99, end-to-end handled/s (sink POST /messages count / (wrk time + drain
# time)), idle and loaded RSS, the ratios, and the targets marked met / not met.
#
# Builds nothing (the Makefile's bench target depends on `all`).  Every wait is bounded, every
# server listens on 127.0.0.1, and only PIDs this script started are stopped.
# Needs (Debian 12): apt-get install -y wrk nginx-light curl python3-fastapi python3-uvicorn python3-httpx
# Env: BUILD (build)  SHARED_DIR (<repo>/../shared)  OUT_DIR (mktemp)
#      WRK_THREADS (2) WRK_CONNS (32) WRK_DURATION (10, max 20)  DRAIN_MAX (20 s)
#      OURS_PORT (18090) OURS_SINK_PORT (18091) PEER_PORT (18080) SINK_PORT (18081) CEIL_PORT (18082)
#      NGINX_WORKERS ("1 2"; the first is the reference of the ours/nginx target)
#      BENCH_PARTS ("ours peer ceiling")  BENCH_STRICT=1: exit 1 when a target is not met
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$SRC/$BUILD;; esac
AGENT_BIN=$BUILD/examples/echo_agent
PARTS=" ${BENCH_PARTS:-ours unbounded peer ceiling} "
UNBOUNDED_PENDING=${UNBOUNDED_PENDING:-100000000}

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
case "$PARTS" in *" ours "*|*" unbounded "*)
  [ -x "$AGENT_BIN" ] || { echo "bench: $AGENT_BIN not found: the echo agent example (examples/echo_agent.c) is not built yet" >&2; exit 1; };;
esac

BENCH_DIR=$HERE                  # lib.sh's start_nginx reads $BENCH_DIR/nginx_sink.conf.in
. "$SHARED/bench/lib.sh"
need wrk wrk; need curl curl; need nginx nginx-light

OUT_DIR=${OUT_DIR:-$(mktemp -d /tmp/agentex-bench.XXXXXX)}
mkdir -p "$OUT_DIR"
export WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-32} WRK_DURATION=${WRK_DURATION:-10}
export WRK_METHOD=event/send
[ "$WRK_DURATION" -le 20 ] || die "WRK_DURATION must be <= 20 s"
DRAIN_MAX=${DRAIN_MAX:-20}
OURS_PORT=${OURS_PORT:-18090}
OURS_SINK_PORT=${OURS_SINK_PORT:-18091}
NGINX_WORKERS=${NGINX_WORKERS:-1 2}
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
echo "bench: out dir $OUT_DIR; wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s, $WRK_METHOD bodies from $LUA"

# ---- (a) the libagentex echo agent ---------------------------------------------------------
# run_ours NAME MAX_PENDING: NAME is the result folder; MAX_PENDING empty = the library's default
run_ours() {
  local name=$1 maxp=$2
  local dir=$OUT_DIR/$name sinkdir t0 t1 ack rss_idle rss_end rss_max cpu0 cpu1 st0 st1 sampler
  local reqs n last_n last_t deadline drain_s sink e2e hz rss_priv
  mkdir -p "$dir"; sinkdir=$dir/sink
  port_busy "$OURS_PORT" && die "port $OURS_PORT already in use"
  start_nginx "$sinkdir" "$OURS_SINK_PORT" 1
  local sink_pid=$NGINX_PID
  t0=$(now)
  ACP_MAX_PENDING=$maxp AGENT_NAME=bench-echo ACP_PORT=$OURS_PORT ACP_HOST=127.0.0.1 ACP_URL=http://127.0.0.1 \
    AGENTEX_BASE_URL=http://127.0.0.1:$OURS_SINK_PORT "$AGENT_BIN" > "$dir/agent.out" 2> "$dir/agent.err" &
  local pid=$!
  STARTED_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$OURS_PORT/healthz" 30 || die "echo_agent did not answer /healthz (see $dir/agent.err)"
  t1=$(now)
  echo "ours: echo_agent pid=$pid startup_s=$(sub "$t0" "$t1") registrations=$(count_lines "$sinkdir/register_access.log")"
  ack=$(curl -s --max-time 5 -H 'Content-Type: application/json' -H "x-agent-api-key: $AGENT_KEY" \
    "http://127.0.0.1:$OURS_PORT/api" -d \
    '{"jsonrpc":"2.0","id":7,"method":"event/send","params":{"agent":{"id":"agent-0001","name":"bench-echo","description":"d","acp_type":"async","created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"},"task":{"id":"task-0001"},"event":{"id":"e","sequence_id":1,"task_id":"task-0001","agent_id":"agent-0001","content":{"type":"text","author":"user","content":"hi"}}}}')
  echo "ours: sanity ack: $ack"
  case "$ack" in *'"status":"processing"'*'"id":7'*|*'"id":7'*'"status":"processing"'*) ;;
    *) die "echo_agent: unexpected ack to event/send (see $dir/agent.err)";; esac
  sleep 1
  [ "$(count_lines "$sinkdir/sink_access.log")" -ge 1 ] || echo "ours: warning: the sanity event reached no POST /messages yet"
  rss_idle=$(rss_kb "$pid")
  # VmRSS counts the shared libraries' pages the process touched; Anonymous is its own memory
  rss_priv=$(awk '/^Anonymous:/ {t += $2} END {print t + 0}' "/proc/$pid/smaps_rollup" 2>/dev/null)
  echo "ours: VmRSS idle: $rss_idle kB (anonymous $rss_priv kB)"

  cpu0=$(cpu_ticks "$pid")
  ( max=0; while kill -0 "$pid" 2>/dev/null; do
      r=$(rss_kb "$pid"); [ -n "$r" ] && [ "$r" -gt "$max" ] && max=$r && echo "$max" > "$dir/rss_max.tmp" \
        && mv -f "$dir/rss_max.tmp" "$dir/rss_max"
      sleep 0.25
    done ) &
  sampler=$!
  STARTED_PIDS+=("$sampler")
  st0=$(stat_snap)
  timeout $(( WRK_DURATION + 10 )) wrk -t"$WRK_THREADS" -c"$WRK_CONNS" -d"${WRK_DURATION}s" --timeout 5s \
    --latency -H "x-agent-api-key: $AGENT_KEY" -s "$LUA" "http://127.0.0.1:$OURS_PORT/api" > "$dir/wrk.txt" 2>&1
  st1=$(stat_snap)
  rss_end=$(rss_kb "$pid")
  stop_pid "$sampler"
  rss_max=$(cat "$dir/rss_max" 2>/dev/null)   # written atomically (mv): never half a number
  if [ -z "$rss_max" ] || { [ -n "$rss_end" ] && [ "$rss_end" -gt "$rss_max" ]; }; then rss_max=$rss_end; fi
  cat "$dir/wrk.txt"
  reqs=$(wrkstat "$dir/wrk.txt" requests)
  [ -n "$reqs" ] || die "wrk printed no WRKSTATS line (see $dir/wrk.txt)"

  # drain: every acknowledged event becomes one POST /messages; wait until the count reaches
  # wrk's requests + the sanity one, or stops growing for 2 s (bounded by DRAIN_MAX)
  local tw=$(now); last_n=-1; last_t=$tw; deadline=$(( $(date +%s) + DRAIN_MAX ))
  while :; do
    n=$(count_lines "$sinkdir/sink_access.log")
    if [ "$n" != "$last_n" ]; then last_n=$n; last_t=$(now); fi
    [ "$n" -ge $(( reqs + 1 )) ] && break
    awk -v a="$last_t" -v b="$(now)" 'BEGIN{exit !(b - a >= 2)}' && break
    [ "$(date +%s)" -ge "$deadline" ] && { echo "ours: warning: still draining after ${DRAIN_MAX} s"; break; }
    sleep 0.1
  done
  drain_s=$(sub "$tw" "$last_t")
  cpu1=$(cpu_ticks "$pid")
  stop_pid "$pid"              # SIGTERM: acp_server_run stops and drains
  stop_pid "$sink_pid" QUIT
  sink=$(grep -c '^POST 200' "$sinkdir/sink_access.log")
  hz=$(getconf CLK_TCK)
  e2e=$(awk -v n="$sink" -v d="$(wrkstat "$dir/wrk.txt" duration_s)" -v e="$drain_s" 'BEGIN{printf "%.1f", n/(d+e)}')
  {
    echo "RESULT $name echo_agent max_pending=${maxp:-default} wrk=-t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s method=$WRK_METHOD"
    echo "RESULT rps=$(wrkstat "$dir/wrk.txt" rps) p50_ms=$(wrkstat "$dir/wrk.txt" p50_ms) p99_ms=$(wrkstat "$dir/wrk.txt" p99_ms) requests=$reqs non2xx=$(wrkstat "$dir/wrk.txt" non2xx) sockerr=$(wrkstat "$dir/wrk.txt" sockerr)"
    echo "RESULT cpu_steal_during_wrk_pct=$(steal_pct "$st0" "$st1")"
    echo "RESULT rss_idle_kb=$rss_idle rss_idle_anon_kb=$rss_priv rss_load_max_kb=$rss_max rss_after_load_kb=$rss_end agent_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v h="$hz" 'BEGIN{printf "%.2f",(b-a)/h}')"
    echo "RESULT sink_posts=$sink drain_s=$drain_s end_to_end_rps=$e2e (sink POSTs / (wrk duration + drain time))"
  } | tee "$dir/result.txt"
  cleanup_started
}

# ---- (b) and (c): the shared scripts, each in its own process -----------------------------
run_peer() {
  OUT_DIR=$OUT_DIR/peer DRAIN_MAX=$DRAIN_MAX bash "$SHARED/bench/run_peer.sh" 2>&1 | tee "$OUT_DIR/peer.txt" \
    | grep -E '^(RESULT|peer |sanity|warning|error)'
  grep -q '^RESULT rps=' "$OUT_DIR/peer.txt" || die "run_peer.sh produced no result (see $OUT_DIR/peer.txt)"
}
run_ceiling() {
  OUT_DIR=$OUT_DIR/ceiling NGINX_WORKERS=$NGINX_WORKERS bash "$SHARED/bench/run_ceiling.sh" 2>&1 \
    | tee "$OUT_DIR/ceiling.txt" | grep -E '^(RESULT|error)'
  grep -q '^RESULT nginx_ceiling' "$OUT_DIR/ceiling.txt" || die "run_ceiling.sh produced no result (see $OUT_DIR/ceiling.txt)"
}

case "$PARTS" in *" ours "*) echo "== (a) libagentex echo_agent, default backlog limit (acp_server_set_max_pending)"
  run_ours ours "";; esac
case "$PARTS" in *" unbounded "*) echo "== (a') libagentex echo_agent, ACP_MAX_PENDING=$UNBOUNDED_PENDING (no backpressure within the run, like the peer)"
  run_ours unbounded "$UNBOUNDED_PENDING";; esac
case "$PARTS" in *" peer "*) echo "== (b) Python peer (FastAPI + uvicorn)"; run_peer;; esac
case "$PARTS" in *" ceiling "*) echo "== (c) nginx ceiling"; run_ceiling;; esac

# ---- summary --------------------------------------------------------------------------------
O=$OUT_DIR/ours/result.txt U=$OUT_DIR/unbounded/result.txt P=$OUT_DIR/peer.txt C=$OUT_DIR/ceiling.txt
row() { printf '%-34s %9s %8s %8s %10s %9s %9s %9s\n' "$@"; }
fmt_mib() { [ -n "$1" ] && [ "$1" != NA ] && awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}' || echo -; }
val() { [ -n "$1" ] && echo "$1" || echo -; }
{
  echo
  echo "== summary: wrk -t$WRK_THREADS -c$WRK_CONNS -d${WRK_DURATION}s, $WRK_METHOD, 127.0.0.1, $(nproc) CPUs ($(date -u +%Y-%m-%dT%H:%MZ))"
  row "server" "acks/s" "p50 ms" "p99 ms" "handled/s" "RSS idle" "(anon)" "RSS load"
  row "" "" "" "" "(e2e)" "MiB" "MiB" "MiB"
  for f in "$O:libagentex echo_agent (default)" "$U:libagentex, backlog unbounded"; do
    [ -f "${f%%:*}" ] || continue
    F=${f%%:*}
    row "${f#*:}" "$(val "$(kv "$F" rps)")" "$(val "$(kv "$F" p50_ms)")" "$(val "$(kv "$F" p99_ms)")" \
      "$(val "$(kv "$F" end_to_end_rps)")" "$(fmt_mib "$(kv "$F" rss_idle_kb)")" "$(fmt_mib "$(kv "$F" rss_idle_anon_kb)")" \
      "$(fmt_mib "$(kv "$F" rss_load_max_kb)")"
  done
  [ -f "$P" ] && row "Python peer (FastAPI)" "$(val "$(kv "$P" rps)")" "$(val "$(kv "$P" p50_ms)")" "$(val "$(kv "$P" p99_ms)")" \
    "$(val "$(kv "$P" end_to_end_rps)")" "$(fmt_mib "$(kv "$P" rss_idle_kb)")" - "$(fmt_mib "$(kv "$P" rss_load_max_kb)")"
  if [ -f "$C" ]; then
    grep '^RESULT nginx_ceiling' "$C" | while read -r line; do
      w=$(grep -o 'workers=[0-9]*' <<< "$line" | cut -d= -f2)
      row "nginx fixed ack ($w worker$([ "$w" = 1 ] || echo s))" "$(grep -o ' rps=[^ ]*' <<< "$line" | cut -d= -f2)" \
        "$(grep -o 'p50_ms=[^ ]*' <<< "$line" | cut -d= -f2)" "$(grep -o 'p99_ms=[^ ]*' <<< "$line" | cut -d= -f2)" - - - -
    done
  fi
  for f in "$O" "$U" "$P" "$C"; do
    [ -f "$f" ] || continue
    grep -o 'non2xx=[1-9][0-9]*\|sockerr=[1-9][0-9]*' "$f" | sed "s#^#warning: $(basename "$(dirname "$f")")/$(basename "$f"): #"
  done
  steal=$(cat "$O" "$U" "$P" "$C" 2>/dev/null | grep -o 'cpu_steal[a-z_]*=[0-9.]*' | cut -d= -f2 | tr '\n' ' ')
  [ -n "$steal" ] && echo "CPU steal during the wrk runs (%): $steal(high values make the figures noisy)"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the $(nproc) CPUs)"

  peer_rps=$(kv "$P" rps)
  ceil_w=${NGINX_WORKERS%% *}
  ceil_rps=$(grep "^RESULT nginx_ceiling workers=$ceil_w " "$C" 2>/dev/null | grep -o ' rps=[^ ]*' | cut -d= -f2)
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "NA" }'; }
  target() { # NAME VALUE-TEXT OK(0/1/NA)
    case "$3" in 1) m="met";; 0) m="NOT MET"; echo 1 > "$OUT_DIR/unmet";; *) m="not measured";; esac
    printf '  %-42s %-26s %s\n' "$1" "$2" "$m"
  }
  for f in "$O:default backlog limit (what an agent gets)" "$U:backlog unbounded (ack path, like the peer)"; do
    F=${f%%:*}
    [ -f "$F" ] || continue
    echo
    echo "== targets, libagentex with the ${f#*:}"
    ours_rps=$(kv "$F" rps); ours_p99=$(kv "$F" p99_ms); ours_idle=$(kv "$F" rss_idle_kb)
    if [ -n "$ours_rps" ] && [ -n "$peer_rps" ]; then
      r=$(ratio "$ours_rps" "$peer_rps"); target "acks/s ours/peer >= 15x" "${r}x" "$(awk -v r="$r" 'BEGIN{print (r >= 15)}')"
    else target "acks/s ours/peer >= 15x" "-" NA; fi
    if [ -n "$ours_rps" ] && [ -n "$ceil_rps" ]; then
      r=$(ratio "$ours_rps" "$ceil_rps")
      target "acks/s ours/nginx ($ceil_w worker) >= 60%" "$(awk -v r="$r" 'BEGIN{printf "%.0f%%", 100*r}')" "$(awk -v r="$r" 'BEGIN{print (r >= 0.6)}')"
    else target "acks/s ours/nginx >= 60%" "-" NA; fi
    if [ -n "$ours_p99" ]; then
      target "p99 < 1 ms at $WRK_CONNS connections" "$ours_p99 ms" "$(awk -v p="$ours_p99" 'BEGIN{print (p < 1)}')"
    else target "p99 < 1 ms at $WRK_CONNS connections" "-" NA; fi
    if [ -n "$ours_idle" ]; then
      target "idle RSS < 4 MiB" "$(fmt_mib "$ours_idle") MiB" "$(awk -v k="$ours_idle" 'BEGIN{print (k < 4096)}')"
    else target "idle RSS < 4 MiB" "-" NA; fi
  done
  echo "logs in $OUT_DIR"
} | tee "$OUT_DIR/summary.txt"

if [ "${BENCH_STRICT:-0}" = 1 ] && [ -f "$OUT_DIR/unmet" ]; then exit 1; fi
exit 0
