# tests/conformance/session.sh - the scripted session of check-conformance.sh (sourced).
# Uses: call/dcall (through Prism / directly), j (JS expression on the last body),
# check/expect_eq, PROXY, DEV, AGENT_URL, ECHO_BIN, TMP.  Expected statuses follow
# the real backend (protocol README §4): 404 for unknown ids, 400 for illegal
# transitions / cursor errors, 422 for validation ("422p" = Prism itself rejects the
# request because the spec forbids it; the same body is then sent directly to
# agentex-dev, which must answer 422 {"status_code":10422,...} on its own).

TEXT_USER='{"type":"text","author":"user","content":"hello"}'
NOID=00000000-0000-4000-8000-000000000000

# ---- agents ---------------------------------------------------------------------------
call "register agent" 200 POST /agents/register \
  "{\"name\":\"conf-agent\",\"description\":\"conformance agent\",\"acp_url\":\"$AGENT_URL\",\"acp_type\":\"async\",\"registration_metadata\":{\"k\":\"v\"},\"agent_input_type\":\"text\"}"
read -r AGENT_ID AGENT_KEY < <(j 'o.id + " " + o.agent_api_key')
call "register again (update)" 200 POST /agents/register \
  "{\"name\":\"conf-agent\",\"description\":\"conformance agent v2\",\"acp_url\":\"$AGENT_URL\",\"acp_type\":\"async\",\"agent_id\":\"$AGENT_ID\"}"
expect_eq "register again" "agent id" "$(j o.id)" "$AGENT_ID"
call "register sync agent" 200 POST /agents/register \
  "{\"name\":\"conf-sync\",\"description\":\"sync\",\"acp_url\":\"$AGENT_URL\",\"acp_type\":\"sync\"}"
SYNC_ID=$(j o.id)
DEAD_PORT=$(free_port)
call "register unreachable agent" 200 POST /agents/register \
  "{\"name\":\"conf-dead\",\"description\":\"nobody listens\",\"acp_url\":\"http://127.0.0.1:$DEAD_PORT\",\"acp_type\":\"async\"}"
call "register agent to delete by id" 200 POST /agents/register \
  '{"name":"conf-tmp-1","description":"tmp","acp_url":"http://127.0.0.1:9","acp_type":"agentic"}'
TMP1_ID=$(j o.id)
call "register agent to delete by name" 200 POST /agents/register \
  '{"name":"conf-tmp-2","description":"tmp","acp_url":"http://127.0.0.1:9","acp_type":"sync","principal_context":null,"registration_metadata":null,"agent_input_type":null}'
call "register: bad name" 422p POST /agents/register \
  '{"name":"Bad Name!","description":"d","acp_url":"http://127.0.0.1:9","acp_type":"async"}'
dcall "register: bad name" 422 POST /agents/register \
  '{"name":"Bad Name!","description":"d","acp_url":"http://127.0.0.1:9","acp_type":"async"}'
call "register: acp_url missing" 422p POST /agents/register '{"name":"x","description":"d","acp_type":"async"}'
dcall "register: acp_url missing" 422 POST /agents/register '{"name":"x","description":"d","acp_type":"async"}'
call "register: bad acp_type" 422p POST /agents/register \
  '{"name":"x","description":"d","acp_url":"http://127.0.0.1:9","acp_type":"batch"}'
dcall "register: bad acp_type" 422 POST /agents/register \
  '{"name":"x","description":"d","acp_url":"http://127.0.0.1:9","acp_type":"batch"}'
dcall "register: body not JSON" 422 POST /agents/register '{"name":'

call "list agents" 200 GET /agents
expect_eq "list agents" "count" "$(j o.length)" 5
call "list agents, paged" 200 GET '/agents?limit=2&page_number=2&order_by=created_at&order_direction=asc'
expect_eq "list agents, paged" "count" "$(j o.length)" 2
call "list agents, limit 0" 422p GET '/agents?limit=0'
dcall "list agents, limit 0" 422 GET '/agents?limit=0'
call "get agent" 200 GET "/agents/$AGENT_ID"
expect_eq "get agent" "description" "$(j o.description)" "conformance agent v2"
call "get agent by name" 200 GET /agents/name/conf-agent
expect_eq "get agent by name" "id" "$(j o.id)" "$AGENT_ID"
call "get agent: unknown id" 404 GET "/agents/$NOID"
call "get agent: unknown name" 404 GET /agents/name/no-such-agent
call "delete agent" 200 DELETE "/agents/$TMP1_ID"
expect_eq "delete agent" "id" "$(j o.id)" "$TMP1_ID"
call "delete agent by name" 200 DELETE /agents/name/conf-tmp-2
call "delete agent: again" 404 DELETE "/agents/$TMP1_ID"
call "delete agent by name: unknown" 404 DELETE /agents/name/conf-tmp-2
# agents are soft-deleted by agentex-dev (status "Deleted"); the backend of record hard-deletes: either is fine
call "get deleted agent" "200|404" GET "/agents/$TMP1_ID"
[ "$S" = 200 ] && expect_eq "get deleted agent" "status" "$(j o.status)" Deleted

# ---- client JSON-RPC --------------------------------------------------------------------
rpc() { # rpc LABEL EXPECT TARGET(id|name/x) METHOD PARAMS [ID]
  call "$1" "$2" POST "/agents/$3/rpc" "{\"jsonrpc\":\"2.0\",\"method\":\"$4\",\"params\":$5,\"id\":${6:-1}}"
}
rpc "rpc task/create by id" 200 "$AGENT_ID" task/create \
  '{"name":"conf-task-1","params":{"model":"m1","n":1},"task_metadata":{"team":"conf"}}'
TASK_ID=$(j o.result.id)
expect_eq "rpc task/create" "status" "$(j o.result.status)" RUNNING
rpc "rpc task/create by name (get-or-create)" 200 name/conf-agent task/create '{"name":"conf-task-1"}' '"req-2"'
expect_eq "rpc task/create by name" "task id" "$(j o.result.id)" "$TASK_ID"
expect_eq "rpc task/create by name" "echoed id" "$(j o.id)" "req-2"
tasks=()
for i in 2 3 4 5 6 7 8; do
  rpc "rpc task/create conf-task-$i" 200 "$AGENT_ID" task/create "{\"name\":\"conf-task-$i\",\"params\":null}"
  tasks[$i]=$(j o.result.id)
done
rpc "rpc task/create without name" 200 "$AGENT_ID" task/create '{}'
NONAME_ID=$(j o.result.id)
rpc "rpc event/send by task id" 200 "$AGENT_ID" event/send \
  "{\"task_id\":\"$TASK_ID\",\"content\":$TEXT_USER}"
EVENT1=$(j o.result.id)
expect_eq "rpc event/send" "event task" "$(j o.result.task_id)" "$TASK_ID"
rpc "rpc event/send by task name" 200 name/conf-agent event/send \
  '{"task_name":"conf-task-1","content":{"type":"data","author":"user","data":{"k":[1,2]}}}'
EVENT2=$(j o.result.id)
rpc "rpc event/send without content" 200 "$AGENT_ID" event/send "{\"task_id\":\"$TASK_ID\",\"content\":null}"
EVENT3=$(j o.result.id)
rpc "rpc event/send: no task given" 200 "$AGENT_ID" event/send "{\"content\":$TEXT_USER}"
check "rpc event/send: no task" "no JSON-RPC error" test -n "$(j "o.error && o.error.code")"
rpc "rpc task/create: agent unreachable" 200 name/conf-dead task/create '{"name":"conf-dead-task"}'
expect_eq "rpc unreachable agent" "error code" "$(j 'o.error && o.error.code')" -32603
# the backend resolves the agent inside the RPC handler: HTTP 200 + JSON-RPC -32603
rpc "rpc: unknown agent name" 200 name/no-such-agent task/create '{}'
expect_eq "rpc: unknown agent name" "error code" "$(j "o.error && o.error.code")" -32603
rpc "rpc: unknown method" 422p "$AGENT_ID" task/approve '{}'
dcall "rpc: unknown method" 422 POST "/agents/$AGENT_ID/rpc" '{"jsonrpc":"2.0","method":"task/approve","params":{},"id":1}'
call "rpc: params missing" 422p POST "/agents/$AGENT_ID/rpc" '{"jsonrpc":"2.0","method":"task/create","id":1}'
dcall "rpc: params missing" 422 POST "/agents/$AGENT_ID/rpc" '{"jsonrpc":"2.0","method":"task/create","id":1}'
rpc "rpc task/interrupt" 200 "$AGENT_ID" task/interrupt "{\"task_id\":\"${tasks[7]}\"}"
# RPC task/interrupt is a courier only: the status stays (protocol README 7.6)
expect_eq "rpc task/interrupt" "status" "$(j o.result.status)" RUNNING
rpc "rpc task/cancel" 200 "$AGENT_ID" task/cancel '{"task_name":"conf-task-7"}'
expect_eq "rpc task/cancel" "status" "$(j o.result.status)" CANCELED
rpc "rpc message/send (sync agent)" 200 "$SYNC_ID" message/send \
  "{\"content\":$TEXT_USER,\"stream\":false,\"task_params\":{\"p\":1}}"
expect_eq "rpc message/send" "first result text" "$(j 'o.result && o.result[0] && o.result[0].content.content')" "echo: hello"
SYNC_TASK=$(j 'o.result && o.result[0] && o.result[0].task_id')
rpc "rpc message/send to existing task" 200 name/conf-sync message/send \
  "{\"task_id\":\"$SYNC_TASK\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"again\",\"format\":\"markdown\"}}"
# streaming message/send answers NDJSON, which the spec cannot describe (it says
# application/json): directly, each line checked against the spec's schemas
dcall "rpc message/send, stream (NDJSON)" 200 POST /agents/name/conf-sync/rpc \
  '{"jsonrpc":"2.0","method":"message/send","params":{"task_name":"conf-sync-task","content":{"type":"text","author":"user","content":"streamed"},"stream":true},"id":"s-1"}'
check "rpc message/send, stream" "Content-Type is not application/x-ndjson" \
  grep -qi '^content-type: *application/x-ndjson' "${B%.body}.head"
expect_eq "rpc message/send, stream" "NDJSON lines" "$(node "$CONF/stream_check.js" "$SPEC" ndjson "$B" s-1)" ok
call "get the streamed task by name" 200 GET /tasks/name/conf-sync-task
SYNC_TASK2=$(j o.id)
call "messages of the streamed task" 200 GET "/messages?task_id=$SYNC_TASK2&order_direction=asc"
expect_eq "streamed task messages" "texts" "$(j 'o.map(m => m.content.author + "/" + m.content.content).join()')" \
  "user/streamed,agent/echo: streamed"
expect_eq "streamed task messages" "agent message status" "$(j 'o[1] && o[1].streaming_status')" DONE
for m in task/create event/send task/cancel task/interrupt message/send; do
  check "agent deliveries" "fake agent did not receive $m" grep -q "\"method\":\"$m\"" "$TMP/agent.log"
done
check "agent deliveries" "event $EVENT1 not delivered as params.event with the backend's request id" \
  grep -q "\"id\":\"AgentRPCMethod.EVENT_SEND-$TASK_ID\".*\"event\":{\"id\":\"$EVENT1\"" "$TMP/agent.log"

# ---- tasks ------------------------------------------------------------------------------
call "list tasks" 200 GET /tasks
call "list tasks, filtered" 200 GET "/tasks?agent_id=$AGENT_ID&status=RUNNING&limit=20&page_number=1&order_by=created_at&order_direction=asc"
check "list tasks, filtered" "a non-RUNNING task or params in a summary" \
  test "$(j 'o.every(t => t.status === "RUNNING" && !("params" in t))')" = true
call "list tasks by agent name with agents" 200 GET '/tasks?agent_name=conf-agent&relationships=agents'
check "list tasks with agents" "agents missing" test "$(j 'o.length > 0 && o.every(t => Array.isArray(t.agents))')" = true
call "list tasks by metadata" 200 GET "/tasks?task_metadata=$(urlenc '{"team":"conf"}')"
expect_eq "list tasks by metadata" "ids" "$(j 'o.map(t => t.id).join()')" "$TASK_ID"
call "list tasks: bad metadata JSON" 400 GET "/tasks?task_metadata=$(urlenc '{team')"
call "list tasks: status DELETED" 400 GET '/tasks?status=DELETED'
call "list tasks: unknown status" 422p GET '/tasks?status=SLEEPING'
dcall "list tasks: unknown status" 422 GET '/tasks?status=SLEEPING'
call "list tasks: unknown relationship" 422p GET '/tasks?relationships=owners'
dcall "list tasks: unknown relationship" 422 GET '/tasks?relationships=owners'
call "get task" 200 GET "/tasks/$TASK_ID"
expect_eq "get task" "params" "$(j o.params)" '{"model":"m1","n":1}'
call "get task with agents" 200 GET "/tasks/$TASK_ID?relationships=agents"
expect_eq "get task with agents" "agent" "$(j 'o.agents && o.agents.map(a => a.id).join()')" "$AGENT_ID"
call "get task by name" 200 GET /tasks/name/conf-task-1
expect_eq "get task by name" "id" "$(j o.id)" "$TASK_ID"
call "get task by name with agents" 200 GET '/tasks/name/conf-task-1?relationships=agents'
call "get task: unknown" 404 GET "/tasks/$NOID"
call "get task by name: unknown" 404 GET /tasks/name/no-such-task
call "get task: unknown relationship" 422p GET "/tasks/$TASK_ID?relationships=owners"
dcall "get task: unknown relationship" 422 GET "/tasks/$TASK_ID?relationships=owners"
call "list agents of a task" 200 GET "/agents?task_id=$TASK_ID"
expect_eq "list agents of a task" "ids" "$(j 'o.map(a => a.id).join()')" "$AGENT_ID"
call "update task metadata" 200 PUT "/tasks/$TASK_ID" '{"task_metadata":{"team":"conf","round":2}}'
expect_eq "update task" "metadata" "$(j o.task_metadata)" '{"team":"conf","round":2}'
call "update task by name: merge params" 200 PUT /tasks/name/conf-task-1 '{"merge_params":{"n":2,"extra":true}}'
expect_eq "merge params" "params" "$(j o.params)" '{"model":"m1","n":2,"extra":true}'
call "update task: empty body object" 200 PUT "/tasks/${tasks[2]}" '{}'
call "update task: unknown" 404 PUT "/tasks/$NOID" '{"task_metadata":{}}'
call "update task: metadata not an object" 422p PUT "/tasks/$TASK_ID" '{"task_metadata":[1]}'
dcall "update task: metadata not an object" 422 PUT "/tasks/$TASK_ID" '{"task_metadata":[1]}'

call "interrupt task" 200 POST "/tasks/${tasks[2]}/interrupt"
expect_eq "interrupt" "status" "$(j o.status)" INTERRUPTED
call "interrupt task: not running" 400 POST "/tasks/${tasks[2]}/interrupt" '{"reason":"again"}'
call "complete task" 200 POST "/tasks/${tasks[2]}/complete" '{"reason":"all done"}'
expect_eq "complete" "status/reason" "$(j 'o.status + "/" + o.status_reason')" "COMPLETED/all done"
call "fail task: already completed" 400 POST "/tasks/${tasks[2]}/fail" '{"reason":"late"}'
call "fail task" 200 POST "/tasks/${tasks[3]}/fail" '{"reason":null}'
expect_eq "fail" "status/reason" "$(j 'o.status + "/" + o.status_reason')" "FAILED/Task failed"
call "cancel task" 200 POST "/tasks/${tasks[4]}/cancel"
expect_eq "cancel" "status" "$(j o.status)" CANCELED
call "terminate task" 200 POST "/tasks/${tasks[5]}/terminate" '{}'
expect_eq "terminate" "status" "$(j o.status)" TERMINATED
call "timeout task" 200 POST "/tasks/${tasks[6]}/timeout" '{"reason":"too slow"}'
expect_eq "timeout" "status" "$(j o.status)" TIMED_OUT
call "complete task: unknown" 404 POST "/tasks/$NOID/complete"
call "complete task: reason not a string" 422p POST "/tasks/$NONAME_ID/complete" '{"reason":5}'
dcall "complete task: reason not a string" 422 POST "/tasks/$NONAME_ID/complete" '{"reason":5}'
call "delete task" 200 DELETE "/tasks/${tasks[6]}"
expect_eq "delete task" "id" "$(j o.id)" "${tasks[6]}"
call "get deleted task" 404 GET "/tasks/${tasks[6]}"
call "delete task: again" 404 DELETE "/tasks/${tasks[6]}"
call "delete task by name" 200 DELETE /tasks/name/conf-task-5
call "delete task by name: unknown" 404 DELETE /tasks/name/conf-task-5

# ---- messages ---------------------------------------------------------------------------
call "create text message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"hi there\",\"format\":\"markdown\",\"attachments\":[{\"file_id\":\"f1\",\"name\":\"a.txt\",\"size\":3,\"type\":\"text/plain\"}]}}"
MSG1=$(j o.id)
call "create streaming message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"\",\"style\":\"active\"},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":\"2026-03-01T09:00:00.412000Z\"}"
MSG2=$(j o.id)
expect_eq "streaming message" "streaming_status" "$(j o.streaming_status)" IN_PROGRESS
call "create data message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"data\",\"author\":\"agent\",\"data\":{\"rows\":[1,2,3],\"ok\":true}},\"streaming_status\":null}"
call "create tool_request message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"call-1\",\"name\":\"weather\",\"arguments\":{\"city\":\"Paris\"}}}"
call "create tool_response message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"call-1\",\"name\":\"weather\",\"content\":{\"temp\":21},\"is_error\":false}}"
call "create reasoning message" 200 POST /messages \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[\"think\"],\"content\":[\"step 1\",\"step 2\"]}}"
# the backend does not check that the task exists (messages live in Mongo)
call "create message: unknown task" 200 POST /messages "{\"task_id\":\"$NOID\",\"content\":$TEXT_USER}"
BAD_CONTENT="{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"text\",\"author\":\"robot\",\"content\":\"x\"}}"
call "create message: bad author" 422p POST /messages "$BAD_CONTENT"
dcall "create message: bad author" 422 POST /messages "$BAD_CONTENT"
call "create message: unknown content type" 422p POST /messages "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"image\",\"author\":\"user\"}}"
dcall "create message: unknown content type" 422 POST /messages "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"image\",\"author\":\"user\"}}"
call "create message: task_id missing" 422p POST /messages "{\"content\":$TEXT_USER}"
dcall "create message: task_id missing" 422 POST /messages "{\"content\":$TEXT_USER}"
call "get message" 200 GET "/messages/$MSG1"
expect_eq "get message" "content" "$(j o.content.content)" "hi there"
call "get message: unknown" 404 GET /messages/000000000000000000000000
call "update message" 200 PUT "/messages/$MSG2" \
  "{\"task_id\":\"$TASK_ID\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"streamed text\"},\"streaming_status\":\"DONE\"}"
expect_eq "update message" "content/status" "$(j 'o.content.content + "/" + o.streaming_status')" "streamed text/DONE"
call "update message: unknown" 404 PUT /messages/000000000000000000000000 "{\"task_id\":\"$TASK_ID\",\"content\":$TEXT_USER}"
call "update message: content missing" 422p PUT "/messages/$MSG2" "{\"task_id\":\"$TASK_ID\"}"
dcall "update message: content missing" 422 PUT "/messages/$MSG2" "{\"task_id\":\"$TASK_ID\"}"
call "batch create messages" 200 POST /messages/batch \
  "{\"task_id\":\"$TASK_ID\",\"contents\":[{\"type\":\"text\",\"author\":\"user\",\"content\":\"b1\"},{\"type\":\"text\",\"author\":\"agent\",\"content\":\"b2\"}],\"created_at\":\"2026-03-01T10:00:00Z\"}"
expect_eq "batch create" "count" "$(j o.length)" 2
read -r BM1 BM2 < <(j 'o.map(m => m.id).join(" ")')
call "batch create: unknown task" 200 POST /messages/batch "{\"task_id\":\"$NOID\",\"contents\":[$TEXT_USER]}"
call "batch create: contents missing" 422p POST /messages/batch "{\"task_id\":\"$TASK_ID\"}"
dcall "batch create: contents missing" 422 POST /messages/batch "{\"task_id\":\"$TASK_ID\"}"
call "batch update messages" 200 PUT /messages/batch \
  "{\"task_id\":\"$TASK_ID\",\"updates\":{\"$BM1\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"b1 edited\"},\"$BM2\":{\"type\":\"data\",\"author\":\"agent\",\"data\":{\"x\":1}}}}"
expect_eq "batch update" "count" "$(j o.length)" 2
call "batch update: foreign ids skipped" 200 PUT /messages/batch \
  "{\"task_id\":\"${tasks[8]}\",\"updates\":{\"$BM1\":$TEXT_USER}}"
expect_eq "batch update foreign" "count" "$(j o.length)" 0
call "batch update: updates missing" 422p PUT /messages/batch "{\"task_id\":\"$TASK_ID\"}"
dcall "batch update: updates missing" 422 PUT /messages/batch "{\"task_id\":\"$TASK_ID\"}"
call "list messages" 200 GET "/messages?task_id=$TASK_ID"
expect_eq "list messages" "count" "$(j o.length)" 8
call "list messages, paged asc" 200 GET "/messages?task_id=$TASK_ID&limit=3&page_number=2&order_by=created_at&order_direction=asc"
expect_eq "list messages paged" "count" "$(j o.length)" 3
call "list messages, filtered" 200 GET "/messages?task_id=$TASK_ID&filters=$(urlenc '[{"content":{"type":"data"}}]')"
check "list messages, filtered" "non-data message in the result" \
  test "$(j 'o.length > 0 && o.every(m => m.content.type === "data")')" = true
call "list messages, two filters OR'd" 200 GET "/messages?task_id=$TASK_ID&order_direction=asc&filters=$(urlenc '[{"content":{"type":"data"}},{"content":{"type":"reasoning"}}]')"
expect_eq "list messages, two filters" "types" "$(j 'o.map(m => m.content.type).join()')" "data,data,reasoning"
call "list messages, nested data filter, paged" 200 GET "/messages?task_id=$TASK_ID&limit=1&page_number=1&filters=$(urlenc '{"content":{"data":{"ok":true}},"streaming_status":null}')"
expect_eq "list messages, nested data filter" "data" "$(j 'o.map(m => JSON.stringify(m.content.data)).join()')" '{"rows":[1,2,3],"ok":true}'
call "list messages: filters not JSON" 400 GET "/messages?task_id=$TASK_ID&filters=$(urlenc '[{content')"
call "list messages: task_id missing" 422p GET /messages
dcall "list messages: task_id missing" 422 GET /messages
call "list messages: unknown task" 200 GET "/messages?task_id=$NOID"
call "paginated messages" 200 GET "/messages/paginated?task_id=$TASK_ID&limit=3"
read -r CURSOR MORE < <(j 'o.next_cursor + " " + o.has_more')
expect_eq "paginated" "has_more" "$MORE" true
call "paginated messages, next page" 200 GET "/messages/paginated?task_id=$TASK_ID&limit=3&cursor=$(urlenc "$CURSOR")"
expect_eq "paginated next" "count" "$(j o.data.length)" 3
call "paginated messages, newer" 200 GET "/messages/paginated?task_id=$TASK_ID&limit=50&direction=newer&cursor=$(urlenc "$CURSOR")"
call "paginated messages, filtered" 200 GET "/messages/paginated?task_id=$TASK_ID&filters=$(urlenc '[{"content":{"author":"user"}}]')"
check "paginated messages, filtered" "message not authored by the user in the result" \
  test "$(j 'o.data.length > 0 && o.data.every(m => m.content.author === "user")')" = true
call "paginated messages, filtered, one per page" 200 GET "/messages/paginated?task_id=$TASK_ID&limit=1&filters=$(urlenc '[{"content":{"type":"data"}}]')"
read -r FCURSOR FMORE _ < <(j 'o.next_cursor + " " + o.has_more + " " + o.data.length')
expect_eq "paginated filtered page 1" "has_more" "$FMORE" true
call "paginated messages, filtered, page 2" 200 GET "/messages/paginated?task_id=$TASK_ID&limit=1&cursor=$(urlenc "$FCURSOR")&filters=$(urlenc '[{"content":{"type":"data"}}]')"
expect_eq "paginated filtered page 2" "types/has_more" "$(j 'o.data.map(m => m.content.type).join() + "/" + o.has_more')" "data/false"
call "list messages, exclusion filter" 200 GET "/messages?task_id=$TASK_ID&filters=$(urlenc '[{"content":{"type":"text"},"exclude":true}]')"
check "list messages, exclusion filter" "text message in the result" \
  test "$(j 'o.length > 0 && o.every(m => m.content.type !== "text")')" = true
call "paginated messages: bad direction" 422p GET "/messages/paginated?task_id=$TASK_ID&direction=sideways"
dcall "paginated messages: bad direction" 422 GET "/messages/paginated?task_id=$TASK_ID&direction=sideways"

# ---- events -----------------------------------------------------------------------------
call "list events" 200 GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID"
expect_eq "list events" "ids" "$(j 'o.map(e => e.id).join()')" "$EVENT1,$EVENT2,$EVENT3"
call "list events after cursor" 200 GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID&last_processed_event_id=$EVENT1&limit=1"
expect_eq "list events after cursor" "ids" "$(j 'o.map(e => e.id).join()')" "$EVENT2"
call "list events: unknown cursor ignored" 200 GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID&last_processed_event_id=$NOID"
expect_eq "list events unknown cursor" "count" "$(j o.length)" 3
# Prism coerces "0" to null (anyOf integer/null) and forwards: agentex-dev answers itself
call "list events: limit 0" 422 GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID&limit=0"
call "list events: limit 1001" 422p GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID&limit=1001"
dcall "list events: limit 1001" 422 GET "/events?task_id=$TASK_ID&agent_id=$AGENT_ID&limit=1001"
call "list events: agent_id missing" 422p GET "/events?task_id=$TASK_ID"
dcall "list events: agent_id missing" 422 GET "/events?task_id=$TASK_ID"
call "get event" 200 GET "/events/$EVENT2"
expect_eq "get event" "content type" "$(j o.content.type)" data
call "get event: unknown" 404 GET "/events/$NOID"

# ---- states -----------------------------------------------------------------------------
call "create state" 200 POST /states "{\"task_id\":\"$TASK_ID\",\"agent_id\":\"$AGENT_ID\",\"state\":{\"step\":1,\"notes\":[\"a\"]}}"
STATE_ID=$(j o.id)
call "create state 2" 200 POST /states "{\"task_id\":\"${tasks[8]}\",\"agent_id\":\"$AGENT_ID\",\"state\":{}}"
STATE2_ID=$(j o.id)
call "create state: state missing" 422p POST /states "{\"task_id\":\"$TASK_ID\",\"agent_id\":\"$AGENT_ID\"}"
dcall "create state: state missing" 422 POST /states "{\"task_id\":\"$TASK_ID\",\"agent_id\":\"$AGENT_ID\"}"
call "get state" 200 GET "/states/$STATE_ID"
expect_eq "get state" "state" "$(j o.state)" '{"step":1,"notes":["a"]}'
call "list states by task and agent" 200 GET "/states?task_id=$TASK_ID&agent_id=$AGENT_ID"
expect_eq "list states" "ids" "$(j 'o.map(s => s.id).join()')" "$STATE_ID"
call "list states, paged" 200 GET '/states?limit=1&page_number=2&order_by=created_at&order_direction=asc'
expect_eq "list states paged" "ids" "$(j 'o.map(s => s.id).join()')" "$STATE2_ID"
call "list states: limit 0" 422p GET '/states?limit=0'
dcall "list states: limit 0" 422 GET '/states?limit=0'
call "update state" 200 PUT "/states/$STATE_ID" "{\"state\":{\"step\":2},\"task_id\":\"$TASK_ID\",\"agent_id\":\"$AGENT_ID\"}"
expect_eq "update state" "state" "$(j o.state)" '{"step":2}'
call "update state: unknown" 404 PUT /states/000000000000000000000000 '{"state":{}}'
call "update state: state not an object" 422p PUT "/states/$STATE_ID" '{"state":"x"}'
dcall "update state: state not an object" 422 PUT "/states/$STATE_ID" '{"state":"x"}'
call "delete state" 200 DELETE "/states/$STATE2_ID"
expect_eq "delete state" "id" "$(j o.id)" "$STATE2_ID"
call "get deleted state" 404 GET "/states/$STATE2_ID"
call "delete state: again" 404 DELETE "/states/$STATE2_ID"

# ---- tracker ----------------------------------------------------------------------------
call "list trackers by task and agent" 200 GET "/tracker?task_id=$TASK_ID&agent_id=$AGENT_ID"
TRACKER_ID=$(j 'o[0] && o[0].id')
expect_eq "list trackers" "count" "$(j o.length)" 1
call "list trackers, paged" 200 GET "/tracker?agent_id=$AGENT_ID&limit=2&page_number=1&order_by=created_at&order_direction=desc"
expect_eq "list trackers paged" "count" "$(j o.length)" 2
call "list trackers: page 0" 422p GET '/tracker?page_number=0'
dcall "list trackers: page 0" 422 GET '/tracker?page_number=0'
call "get tracker" 200 GET "/tracker/$TRACKER_ID"
call "get tracker: unknown" 404 GET "/tracker/$NOID"
call "update tracker cursor" 200 PUT "/tracker/$TRACKER_ID" \
  "{\"last_processed_event_id\":\"$EVENT2\",\"status\":\"PROCESSING\",\"status_reason\":\"working\"}"
expect_eq "update tracker" "cursor/status" "$(j 'o.last_processed_event_id + "/" + o.status')" "$EVENT2/PROCESSING"
call "update tracker: same cursor, status wiped" 200 PUT "/tracker/$TRACKER_ID" "{\"last_processed_event_id\":\"$EVENT2\"}"
expect_eq "update tracker same cursor" "status" "$(j 'String(o.status)')" null
call "update tracker: cursor backwards" 400 PUT "/tracker/$TRACKER_ID" "{\"last_processed_event_id\":\"$EVENT1\"}"
call "update tracker: unknown event" 400 PUT "/tracker/$TRACKER_ID" "{\"last_processed_event_id\":\"$NOID\"}"
call "update tracker: unknown tracker" 400 PUT "/tracker/$NOID" '{"status":"READY"}'
call "update tracker: status not a string" 422p PUT "/tracker/$TRACKER_ID" '{"status":7}'
dcall "update tracker: status not a string" 422 PUT "/tracker/$TRACKER_ID" '{"status":7}'

# ---- task stream (SSE, directly: not described by the spec) ------------------------------
# A stream on a running task sees `connected`, the `full` update of a new message, the
# task_updated of a metadata change and of completion, then ends by itself.
SSE_TASK=${tasks[8]}
curl -sS -N --max-time 15 -H 'Accept: text/event-stream' -D "$TMP/sse.head" \
  "$DEV/tasks/$SSE_TASK/stream" > "$TMP/sse.out" 2> "$TMP/sse.err" &
SSE_PID=$!
SSE_PIDS+=("$SSE_PID")
for _ in $(seq 1 100); do grep -q '"connected"' "$TMP/sse.out" 2>/dev/null && break; sleep 0.05; done
call "stream: create message" 200 POST /messages "{\"task_id\":\"$SSE_TASK\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"to the stream\"}}"
SSE_MSG=$(j o.id)
call "stream: update task" 200 PUT "/tasks/$SSE_TASK" '{"task_metadata":{"streamed":true}}'
call "stream: complete task" 200 POST "/tasks/$SSE_TASK/complete" '{"reason":"stream test"}'
sse_rc=0
wait "$SSE_PID" || sse_rc=$?
SSE_PIDS=()
check "task stream" "stream did not end after the terminal task_updated (curl status $sse_rc)" test "$sse_rc" = 0
check "task stream" "Content-Type is not text/event-stream" grep -qi '^content-type: *text/event-stream' "$TMP/sse.head"
sse_verdict=$(node "$CONF/stream_check.js" "$SPEC" sse "$TMP/sse.out" "$SSE_TASK" "$SSE_MSG")
expect_eq "task stream" "frames" "$sse_verdict" ok
# by name, on a terminal task: connected, (replay), and the stream closes at once
curl -sS -N --max-time 5 "$DEV/tasks/name/conf-task-8/stream" > "$TMP/sse2.out" 2> "$TMP/sse2.err"
sse_rc=$?
check "task stream by name (terminal task)" "stream did not close (curl status $sse_rc)" test "$sse_rc" = 0
check "task stream by name (terminal task)" "no connected frame" grep -q '"type":"connected"' "$TMP/sse2.out"
dcall "stream: unknown task" 404 GET "/tasks/$NOID/stream"

# ---- echo_agent (the SDK's own calls go through Prism too) -------------------------------
# With the auto-cursor on, its calls include the cursor walk as well: the running tasks at
# start-up, the tracker lookup, the event list after the cursor, the tracker read and update.
# Its start-up version guard reads GET /openapi.json, FastAPI's own document, which the spec
# does not list (Prism can only answer "no path matched"): the agent skips it here, and the
# session reads that document directly, as the guard does.
dcall "openapi.json (the agents' version guard)" 200 GET /openapi.json
check "openapi.json" "info.version is not the spec's 0.1.0" test "$(j o.info.version)" = 0.1.0
if [ -n "$ECHO_BIN" ]; then
  EPORT=$(free_port)
  AGENT_NAME=conf-echo AGENT_DESCRIPTION="echo agent under Prism" ACP_URL=http://127.0.0.1 ACP_PORT=$EPORT ACP_HOST=127.0.0.1 \
    ACP_TYPE=async AGENTEX_BASE_URL=$PROXY AGENT_API_KEY= ACP_AUTO_CURSOR=1 AGENTEX_SKIP_VERSION_CHECK=1 \
    "$ECHO_BIN" > "$TMP/echo.out" 2> "$TMP/echo.err" < /dev/null &
  ECHO_PID=$!
  registered=
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -w '%{http_code}' "$DEV/agents/name/conf-echo" | grep -q 200; then registered=1; break; fi
    kill -0 "$ECHO_PID" 2>/dev/null || break
    sleep 0.1
  done
  check "echo_agent" "echo_agent did not register (see $TMP/echo.err)" test -n "$registered"
  if [ -n "$registered" ]; then
    rpc "echo: task/create" 200 name/conf-echo task/create '{"name":"conf-echo-task"}'
    ECHO_TASK=$(j o.result.id)
    rpc "echo: event/send" 200 name/conf-echo event/send \
      '{"task_name":"conf-echo-task","content":{"type":"text","author":"user","content":"ping"}}'
    # poll_dev PATH FILE EXPR: GETs agentex-dev's PATH into FILE until EXPR (on it) is true, 10 s
    poll_dev() {
      local _
      for _ in $(seq 1 100); do
        curl -s "$DEV$1" > "$2"
        [ "$(jf "$2" "$3")" = true ] && return 0
        sleep 0.1
      done
      return 1
    }
    check "echo_agent" "no agent message echoing 'ping' on the echo task after event/send" \
      poll_dev "/messages?task_id=$ECHO_TASK" "$TMP/echo.msgs" \
      'Array.isArray(o) && o.some(m => m.content && m.content.author === "agent" && /ping/.test(m.content.content))'
    curl -s "$DEV/agents/name/conf-echo" > "$TMP/echo.agent"
    ECHO_AGENT_ID=$(jf "$TMP/echo.agent" o.id)
    check "echo_agent" "the auto-cursor did not move the echo task's tracker" \
      poll_dev "/tracker?task_id=$ECHO_TASK&agent_id=$ECHO_AGENT_ID" "$TMP/echo.tracker" \
      'Array.isArray(o) && o.length === 1 && typeof o[0].last_processed_event_id === "string"'
    call "echo: list messages" 200 GET "/messages?task_id=$ECHO_TASK"
  fi
fi
