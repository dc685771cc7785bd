#!/usr/bin/env bash
# tests/check-conformance.sh - OpenAPI conformance of agentex-dev.
#
# Starts agentex-dev, a fake ACP agent (tests/conformance/fake_agent.js; also
# build/examples/echo_agent when it exists) and Stoplight Prism as a validating proxy
# (shared/conformance/prism.sh proxy, --errors) in front of agentex-dev, then runs the
# scripted session tests/conformance/session.sh with curl through the proxy: every
# endpoint agentex-dev implements that the spec contains, error cases included.
# The task stream (SSE, not described by the spec) is exercised directly.
# Passes only when every call returns the expected status and Prism reports no
# request or response violation (sl-violations headers and the Prism log); see
# tests/conformance/report.js for the rules and tests/conformance/README.md.
#
# Needs node + npm (else SKIPPED, exit 0), curl, ../shared/conformance (the repo's
# sibling; AGX_SHARED_DIR overrides).  Prism is installed once with npm ci into
# $PRISM_HOME (default ${XDG_CACHE_HOME:-~/.cache}/agentex-prism), never inside the repo.
# Loopback only; stops exactly the processes it started.
# Env (set by tests/run.sh): AGX_SRC_DIR, AGX_BUILD_DIR (ASan variant), AGX_RELEASE_DIR.
# Other: AGX_DEV_BIN (agentex-dev to test), AGX_CONFORMANCE_KEEP=1 keeps the work dir,
# AGX_ECHO_BIN (echo_agent to use), AGX_CONFORMANCE_ECHO=0 skips echo_agent.
set -u

say() { echo "conformance: $*"; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "SKIPPED (node not installed)"
  exit 0
fi
if ! command -v curl >/dev/null 2>&1; then
  say "SKIPPED (curl not installed)"
  exit 0
fi

SRC=${AGX_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
CONF=$SRC/tests/conformance
BUILD_DIR=${AGX_BUILD_DIR:-$SRC/build/asan}
RELEASE_DIR=${AGX_RELEASE_DIR:-$SRC/build}

# shared/ is the repo's sibling; from a git worktree, the main checkout's sibling
SHARED=
for cand in "${AGX_SHARED_DIR:-}" "$SRC/../shared" \
    "$(git -C "$SRC" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)/../../shared"; do
  if [ -n "$cand" ] && [ -x "$cand/conformance/prism.sh" ] && [ -f "$cand/protocol/openapi.yaml" ]; then
    SHARED=$(cd "$cand" && pwd)
    break
  fi
done
if [ -z "$SHARED" ]; then
  say "SKIPPED (shared/conformance not found next to $SRC; set AGX_SHARED_DIR)"
  exit 0
fi

DEV_BIN=${AGX_DEV_BIN:-}
if [ -z "$DEV_BIN" ]; then
  for cand in "$BUILD_DIR/bin/agentex-dev" "$RELEASE_DIR/bin/agentex-dev"; do
    if [ -x "$cand" ]; then DEV_BIN=$cand; break; fi
  done
fi
if [ -z "$DEV_BIN" ]; then
  if ls "$SRC"/devserver/*.c >/dev/null 2>&1; then
    say "FAILED: agentex-dev not built (looked in $BUILD_DIR/bin and $RELEASE_DIR/bin)"
    exit 1
  fi
  say "SKIPPED (no agentex-dev in this tree)"
  exit 0
fi
ECHO_BIN=${AGX_ECHO_BIN:-}
if [ -z "$ECHO_BIN" ] && [ "${AGX_CONFORMANCE_ECHO:-1}" != 0 ]; then
  for cand in "$BUILD_DIR/examples/echo_agent" "$RELEASE_DIR/examples/echo_agent"; do
    if [ -x "$cand" ]; then ECHO_BIN=$cand; break; fi
  done
fi

export PRISM_HOME=${PRISM_HOME:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/agentex-prism}
case "$PRISM_HOME/" in
  "$SRC"/*|"$SHARED"/*) say "FAILED: PRISM_HOME ($PRISM_HOME) must be outside the repo and shared/"; exit 1 ;;
esac
# npm ci only when prism.sh would do it (its install also runs `prism --version`: 3 s)
if ! [ -x "$PRISM_HOME/node_modules/.bin/prism" ] ||
   ! cmp -s "$SHARED/conformance/package-lock.json" "$PRISM_HOME/package-lock.json"; then
  say "installing Prism into $PRISM_HOME (npm ci)"
  if ! "$SHARED/conformance/prism.sh" install > /dev/null 2> "${TMPDIR:-/tmp}/agx-prism-install.$$.log"; then
    tail -5 "${TMPDIR:-/tmp}/agx-prism-install.$$.log" | sed 's/^/    /'
    rm -f "${TMPDIR:-/tmp}/agx-prism-install.$$.log"
    say "SKIPPED (Prism could not be installed: npm ci failed in $PRISM_HOME)"
    exit 0
  fi
  rm -f "${TMPDIR:-/tmp}/agx-prism-install.$$.log"
fi

T0=$(date +%s%N)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/agx-conformance.XXXXXX")
mkdir -p "$TMP/calls"
: > "$TMP/calls.tsv"
: > "$TMP/checks.tsv"
DEV_PID= AGENT_PID= ECHO_PID= PRISM_PID= JSON_PID= SSE_PIDS=()

stop_pid() { # stop_pid PID: TERM, wait up to 5 s, then KILL; returns its exit status
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return $?; }
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
}

cleanup() {
  local p
  for p in "${SSE_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  SSE_PIDS=()
  if [ -n "$PRISM_PID" ]; then "$SHARED/conformance/prism.sh" stop "$PRISM_PID" 2>/dev/null; PRISM_PID=; fi
  stop_pid "$ECHO_PID"; ECHO_PID=
  stop_pid "$AGENT_PID"; AGENT_PID=
  stop_pid "$JSON_PID"; JSON_PID=
  stop_pid "$DEV_PID"; DEV_PID=
  if [ "${AGX_CONFORMANCE_KEEP:-0}" = 1 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
    say "work dir kept: $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_setup() {
  say "FAILED: $*"
  KEEP_TMP=1
  exit 1
}

# wait_line FILE PATTERN SECONDS PID -> the first matching line, or fails
wait_line() {
  local file=$1 pat=$2 secs=$3 pid=$4 i line
  for i in $(seq 1 $((secs * 20))); do
    line=$(grep -m1 "$pat" "$file" 2>/dev/null) && { echo "$line"; return 0; }
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# A free loopback port: bind port 0 and let it go (node is here anyway).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# ---- agentex-dev ----------------------------------------------------------------------
"$DEV_BIN" --host 127.0.0.1 --port 0 --health-interval-ms 0 --rpc-timeout-ms 10000 \
  > "$TMP/dev.out" 2> "$TMP/dev.err" < /dev/null &
DEV_PID=$!
line=$(wait_line "$TMP/dev.out" '^agentex-dev listening on http://' 20 "$DEV_PID") \
  || { cat "$TMP/dev.err" >&2; fail_setup "agentex-dev did not start ($DEV_BIN)"; }
DEV=${line#agentex-dev listening on }

# ---- fake agent -----------------------------------------------------------------------
node "$CONF/fake_agent.js" "$TMP/agent.log" > "$TMP/agent.out" 2> "$TMP/agent.err" < /dev/null &
AGENT_PID=$!
line=$(wait_line "$TMP/agent.out" '^fake-agent listening on http://' 20 "$AGENT_PID") \
  || { cat "$TMP/agent.err" >&2; fail_setup "fake agent did not start"; }
AGENT_URL=${line#fake-agent listening on }

# ---- Prism proxy (a few tries: the port can be taken between the probe and the bind) ---
for try in 1 2 3; do
  PORT=$(free_port) || fail_setup "no free port"
  if PRISM_PID=$(PRISM_LOG="$TMP/prism.log" "$SHARED/conformance/prism.sh" proxy "$PORT" "$DEV" 2>> "$TMP/prism.err"); then
    break
  fi
  PRISM_PID=
done
[ -n "$PRISM_PID" ] || { tail -5 "$TMP/prism.err" >&2; fail_setup "Prism proxy did not start"; }
PROXY=http://127.0.0.1:$PORT
SPEC=$SHARED/protocol/openapi.yaml
T1=$(date +%s%N)
say "agentex-dev $DEV ($DEV_BIN), Prism proxy $PROXY, fake agent $AGENT_URL, ready in $(( (T1 - T0) / 1000000 )) ms"

# ---- session --------------------------------------------------------------------------
N=0
S= B=
# call LABEL EXPECT METHOD PATH [BODY]      through the proxy
# dcall LABEL EXPECT METHOD PATH [BODY]     directly to agentex-dev
# Sets S (status) and B (response body file).  EXPECT: a status, or 422p (Prism rejects).
do_call() {
  local via=$1 base=$2 label=$3 expect=$4 method=$5 p=$6
  N=$((N + 1))
  local f
  f=$TMP/calls/$(printf '%03d' "$N")
  local args=(-sS -o "$f.body" -D "$f.head" -w '%{http_code} %{time_total}' -X "$method" --max-time 20
              -H 'Accept: application/json')
  if [ $# -ge 7 ]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$7")
    printf '%s' "$7" > "$f.req"
  fi
  local out secs
  out=$(curl "${args[@]}" "$base$p" 2> "$f.err") || true
  S=${out%% *} secs=${out#* }
  [ -n "$S" ] || S=000
  B=$f.body
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$N" "$label" "$via" "$method" "$p" "$expect" "$S" "$secs" >> "$TMP/calls.tsv"
}
call() { do_call proxy "$PROXY" "$@"; }
dcall() { do_call direct "$DEV" "$@"; }
# j EXPR... : evaluates JS expressions on the last response body (o = parsed JSON), one
# output line each; jf FILE EXPR... on FILE.  Served by one node (json.js --serve).
coproc JSONSRV { exec node "$CONF/json.js" --serve 2>> "$TMP/json.err"; }
JSON_PID=$JSONSRV_PID
j() { jf "$B" "$@"; }
jf() {
  local f=$1 e line
  shift
  { printf '%s' "$f"; for e in "$@"; do printf '\x1f%s' "$e"; done; printf '\n'; } >&"${JSONSRV[1]}"
  for e in "$@"; do
    IFS= read -r -t 20 line <&"${JSONSRV[0]}" || line='<json.js died>'
    printf '%s\n' "$line"
  done
}
# check LABEL MESSAGE COMMAND... : records a failed check unless COMMAND succeeds
check() {
  local label=$1 msg=$2; shift 2
  if ! "$@"; then printf '%s\t%s\t%s\n' "$N" "$label" "$msg" >> "$TMP/checks.tsv"; fi
}
# expect_eq LABEL WHAT ACTUAL WANTED
expect_eq() {
  [ "$3" = "$4" ] || printf '%s\t%s\t%s\n' "$N" "$1" "$2: got '$3', want '$4'" >> "$TMP/checks.tsv"
}
urlenc() { # percent-encodes everything but unreserved characters (bytes, not characters)
  local LC_ALL=C s=$1 out= c h i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) printf -v h '%%%02X' "'$c"; out+=$h ;;
    esac
  done
  printf '%s' "$out"
}

. "$CONF/session.sh"

T2=$(date +%s%N)

# ---- verdict --------------------------------------------------------------------------
status=0
node "$CONF/report.js" "$TMP" "$TMP/prism.log" || status=1
"$SHARED/conformance/prism.sh" stop "$PRISM_PID" 2>/dev/null; PRISM_PID=
stop_pid "$ECHO_PID"; ECHO_PID=
if [ -f "$TMP/echo.err" ] && grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$TMP/echo.err"; then
  say "FAILED: echo_agent ($ECHO_BIN) sanitizer report:"
  sed 's/^/    /' "$TMP/echo.err" | head -60
  status=1
fi
stop_pid "$AGENT_PID"; AGENT_PID=
stop_pid "$DEV_PID"; dev_rc=$?; DEV_PID=
if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$TMP/dev.err"; then
  say "FAILED: agentex-dev sanitizer report:"
  sed 's/^/    /' "$TMP/dev.err" | head -60
  status=1
elif [ "$dev_rc" != 0 ]; then
  say "FAILED: agentex-dev exited with status $dev_rc on SIGTERM"
  tail -20 "$TMP/dev.err" | sed 's/^/    /'
  status=1
fi
say "session $(( (T2 - T1) / 1000000 )) ms, total $(( ($(date +%s%N) - T0) / 1000000 )) ms (after npm ci)"
if [ "$status" = 0 ]; then say "PASSED"; else KEEP_TMP=1; say "FAILED"; fi
exit $status
