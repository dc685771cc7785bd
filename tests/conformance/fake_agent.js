#!/usr/bin/env node
// fake_agent.js - the smallest ACP agent the conformance session needs: it answers
// GET /healthz and POST /api the way the Python SDK does (section 2 of the wire
// reference), so that agentex-dev's deliveries succeed.  No SDK behind it: async
// methods get the immediate {"status":"processing"} ack; message/send (sync agents)
// gets an NDJSON stream start / delta / done for an echo of the input text.
//
//   node fake_agent.js [LOGFILE]
//
// Listens on 127.0.0.1, any free port, and prints exactly one line on stdout:
// "fake-agent listening on http://127.0.0.1:PORT".  Every received RPC is appended to
// LOGFILE (one compact JSON line {method, id, params}) when given.  Stops on SIGTERM.
'use strict';
const http = require('http');
const fs = require('fs');

const logFile = process.argv[2] || null;
const ASYNC = new Set(['task/create', 'event/send', 'task/cancel', 'task/interrupt']);

function reply(res, status, body, type) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': type || 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function rpcError(res, id, code, message) {
  reply(res, 200, { jsonrpc: '2.0', result: null, error: { code, message, data: null }, id });
}

function messageSend(res, id, params) {
  const c = (params && params.content) || {};
  const text = 'echo: ' + (typeof c.content === 'string' ? c.content : '');
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'Cache-Control': 'no-cache' });
  const line = (result) => res.write(JSON.stringify({ jsonrpc: '2.0', result, error: null, id }) + '\n');
  line({ type: 'start', index: 0, parent_task_message: null,
         content: { type: 'text', author: 'agent', style: 'static', format: 'plain', content: '', attachments: null } });
  line({ type: 'delta', index: 0, parent_task_message: null, delta: { type: 'text', text_delta: text } });
  line({ type: 'done', index: 0, parent_task_message: null });
  res.end();
}

const server = http.createServer((req, res) => {
  let chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/healthz') return reply(res, 200, { status: 'healthy' });
    if (req.method !== 'POST' || req.url !== '/api') return reply(res, 404, { detail: 'Not Found' });
    let msg;
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      return rpcError(res, null, -32603, 'body is not JSON');
    }
    const id = msg && msg.id !== undefined ? msg.id : null;
    if (logFile) fs.appendFileSync(logFile, JSON.stringify({ method: msg.method, id, params: msg.params }) + '\n');
    if (!msg || typeof msg.params !== 'object' || msg.params === null) return rpcError(res, id, -32603, 'params missing');
    if (ASYNC.has(msg.method)) return reply(res, 200, { jsonrpc: '2.0', result: { status: 'processing' }, error: null, id });
    if (msg.method === 'message/send') return messageSend(res, id, msg.params);
    return rpcError(res, id, -32601, 'Method ' + msg.method + ' not found');
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write('fake-agent listening on http://127.0.0.1:' + server.address().port + '\n');
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
