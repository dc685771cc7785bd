#!/usr/bin/env bash
# tools/demo.sh - `make demo`: a local Agentex backend, an agent, and a conversation.
#
# Starts build/bin/agentex-dev (the local backend) on a free loopback port, starts
# build/examples/echo_agent against it, and talks to the agent with the `agentex`
# command-line tool (build/bin/agentex).  If build/examples/streaming_agent exists, a
# second act shows an answer streaming in word by word.  A last act stops an agent running
# with ACP_AUTO_CURSOR=1, sends it an event while it is down, and shows that it answers
# once restarted.  Everything it starts is stopped
# at the end (SIGTERM; each process must exit 0), and on any failure.
# Env: BUILD (default build), AGX_DEMO_KEEP=1 keeps the logs directory.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DEV=$BUILD/bin/agentex-dev
CLI=$BUILD/bin/agentex
ECHO=$BUILD/examples/echo_agent
STREAM=$BUILD/examples/streaming_agent

for f in "$DEV" "$CLI" "$ECHO"; do
  [ -x "$f" ] || { echo "demo: $f is missing: run make first" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/agentex-demo.XXXXXX")
PIDS=()          # every process this script started, stopped by cleanup
DEMO_OK=0

if [ -t 1 ]; then B=$'\033[1m' N=$'\033[0m'; else B= N=; fi
say()  { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
note() { printf '   %s\n' "$*"; }
die()  { echo "demo: $*" >&2; exit 1; }

# Stops one process with SIGTERM, waits for it, and checks it exited 0.
stop() { # pid name
  local pid=$1 name=$2 rc=0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  [ $rc -eq 0 ] || { echo "demo: $name exited with status $rc (log: $TMP)" >&2; return 1; }
  note "$name stopped (exit status 0)"
}

# Drops a pid from PIDS once it was stopped and waited for.
forget() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ $DEMO_OK = 1 ] && [ "${AGX_DEMO_KEEP:-0}" != 1 ]; then
    rm -rf "$TMP"
  else
    echo "demo: logs kept in $TMP" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to $1 seconds for the command after it to succeed.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# Starts an agent: name, program, log file.  Waits until the backend lists it Ready.
start_agent() {
  local name=$1 prog=$2 log=$3
  AGENT_NAME=$name ACP_URL=http://127.0.0.1 ACP_PORT=0 ACP_HOST=127.0.0.1 AGENTEX_BASE_URL=$URL \
    "$prog" 2>"$log" &
  PIDS+=($!)
  LAST_PID=$!
  wait_for 10 agent_ready "$name" || die "$name did not register (log: $log)"
}
agent_ready() { [ "$("$CLI" --url "$URL" agent "$1")" = "$1 Ready" ]; }
has_reply() { "$CLI" --url "$URL" messages "$1" | grep -qxF "agent: $2"; }

# ---- 1. the backend ----------------------------------------------------------------------
say "1. Starting agentex-dev, the local Agentex backend (SQLite in memory, loopback only)"
"$DEV" --host 127.0.0.1 --port 0 --log-level warn >"$TMP/dev.out" 2>"$TMP/dev.log" &
DEV_PID=$!
PIDS+=($DEV_PID)
wait_for 10 grep -q '^agentex-dev listening on ' "$TMP/dev.out" ||
  die "agentex-dev did not start (log: $TMP/dev.log)"
URL=$(sed -n 's/^agentex-dev listening on //p' "$TMP/dev.out" | head -n1)
note "$DEV is listening on $URL"

# ---- 2. the agent ------------------------------------------------------------------------
say "2. Starting examples/echo_agent as \"demo-echo\" (a C agent built on libagentex)"
start_agent demo-echo "$ECHO" "$TMP/echo.log"
ECHO_PID=$LAST_PID
note "it registered itself with the backend: $("$CLI" --url "$URL" agent demo-echo)"

# ---- 3. a conversation -------------------------------------------------------------------
export AGENTEX_BASE_URL=$URL AGENT_NAME=demo-echo
say "3. Creating a task:  agentex task create"
TASK=$("$CLI" task create --name "demo-$$")
note "task id: $TASK   (the agent answers task/create with a greeting)"

# a second client follows the task's live stream (Server-Sent Events) meanwhile
"$CLI" watch "$TASK" --timeout 30 >"$TMP/watch.out" 2>&1 &
WATCH_PID=$!
PIDS+=($WATCH_PID)

say "4. Talking to it:  agentex say TASK TEXT  (sends an event, prints the reply as it arrives)"
"$CLI" say "$TASK" "Hello" --timeout 10
"$CLI" say "$TASK" "What can you do?" --timeout 10

say "5. Cancelling the task:  agentex cancel TASK"
note "status: $("$CLI" cancel "$TASK")"

say "6. Meanwhile, 'agentex watch TASK' (started right after task create) printed:"
rc=0
wait "$WATCH_PID" || rc=$?
forget "$WATCH_PID"
sed 's/^/   | /' "$TMP/watch.out"
[ $rc -eq 0 ] || die "agentex watch exited with status $rc"
grep -q '^agent: You said: What can you do?' "$TMP/watch.out" || die "the watch missed a reply"

say "7. The stored conversation:  agentex messages TASK"
"$CLI" messages "$TASK" | sed 's/^/   /'

# ---- 8. streaming (optional) -------------------------------------------------------------
if [ -x "$STREAM" ]; then
  say "8. Streaming: examples/streaming_agent sends its answer word by word"
  start_agent demo-stream "$STREAM" "$TMP/stream.log"
  STREAM_PID=$LAST_PID
  T2=$("$CLI" --agent demo-stream task create --name "demo-stream-$$")
  note "watch the words arrive:"
  "$CLI" --agent demo-stream say "$T2" "How does streaming work?" --timeout 20
  stop "$STREAM_PID" streaming_agent
  forget "$STREAM_PID"
fi

# ---- 9. durability -----------------------------------------------------------------------
say "9. Durability: an agent with ACP_AUTO_CURSOR=1 answers what was sent while it was down"
ACP_AUTO_CURSOR=1 start_agent demo-durable "$ECHO" "$TMP/durable.log"
DURABLE_PID=$LAST_PID
T3=$("$CLI" --agent demo-durable task create --name "demo-durable-$$")
"$CLI" --agent demo-durable send "$T3" "first, while it runs" >/dev/null
wait_for 10 has_reply "$T3" "You said: first, while it runs" || die "no reply to the first event"
stop "$DURABLE_PID" "echo_agent (demo-durable)"
forget "$DURABLE_PID"
if "$CLI" --agent demo-durable send "$T3" "second, while it is down" >/dev/null 2>"$TMP/down.err"; then
  die "event/send reached a stopped agent"
fi
note "agentex send failed as expected; the backend stored the event anyway:"
note "  $(head -n1 "$TMP/down.err")"
note "restarting it; at start it walks the task's events from the tracker's cursor:"
ACP_AUTO_CURSOR=1 start_agent demo-durable "$ECHO" "$TMP/durable2.log"
DURABLE_PID=$LAST_PID
wait_for 10 has_reply "$T3" "You said: second, while it is down" ||
  die "the restarted agent did not answer the stored event (log: $TMP/durable2.log)"
"$CLI" messages "$T3" | sed 's/^/   /'
stop "$DURABLE_PID" "echo_agent (demo-durable)"
forget "$DURABLE_PID"

# ---- stop --------------------------------------------------------------------------------
say "Stopping (SIGTERM)"
stop "$ECHO_PID" echo_agent
forget "$ECHO_PID"
stop "$DEV_PID" agentex-dev
forget "$DEV_PID"
DEMO_OK=1
say "Done."
note "Try it yourself: start $DEV --port 5003, run an agent from $BUILD/examples"
note "(each says at its top how), then see $CLI --help or man man/man1/agentex.1."
