#!/usr/bin/env node
// stream_check.js - checks the two streaming answers the OpenAPI spec cannot describe
// (Prism cannot validate them): every frame is checked against the spec's component
// schemas with the ajv + js-yaml that Prism installed into $PRISM_HOME.
//
//   stream_check.js SPEC sse FILE TASK_ID MSG_ID
//       SSE transcript of GET /tasks/{id}/stream (protocol README 6.1/6.2): only
//       "data: <json>" frames and ":" comments; first frame {"type":"connected",
//       "taskId"}; start/delta/full/done frames valid StreamTaskMessage*; task_updated
//       frames carry a valid Task; a `full` frame for message MSG_ID; the last frame is
//       the COMPLETED task_updated of TASK_ID.
//   stream_check.js SPEC ndjson FILE REQ_ID
//       NDJSON answer of a streaming message/send: one JSON-RPC response per line
//       ({"jsonrpc":"2.0","id":REQ_ID,"error":null,"result":TaskMessageUpdate}), the
//       result valid against its StreamTaskMessage* schema, start first, done last.
//
// Prints "ok" or the problems on one line.  Env: PRISM_HOME (for ajv, js-yaml).
'use strict';
const fs = require('fs');
const path = require('path');
const mod = (name) => require(path.join(process.env.PRISM_HOME || '', 'node_modules', name));

const [specPath, mode, file, a1, a2] = process.argv.slice(2);
const problems = [];

let validators;
try {
  const Ajv2020 = mod('ajv/dist/2020').default;
  const addFormats = mod('ajv-formats');
  const yaml = mod('js-yaml');
  const spec = yaml.load(fs.readFileSync(specPath, 'utf8'));
  // ajv does not support discriminator mappings; every branch carries a `type` const,
  // so the plain oneOf decides the same way
  const strip = (x) => {
    if (Array.isArray(x)) return x.map(strip);
    if (x && typeof x === 'object') {
      const o = {};
      for (const [k, v] of Object.entries(x)) if (k !== 'discriminator') o[k] = strip(v);
      return o;
    }
    return x;
  };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'spec', components: { schemas: strip(spec.components.schemas) } });
  validators = (name) => ajv.getSchema('spec#/components/schemas/' + name);
} catch (e) {
  console.log('cannot load the spec validator: ' + e.message);
  process.exit(0);
}

const UPDATE = { start: 'StreamTaskMessageStart', delta: 'StreamTaskMessageDelta', full: 'StreamTaskMessageFull',
                 done: 'StreamTaskMessageDone' };
function validate(name, doc, where) {
  const v = validators(name);
  if (!v) return problems.push(`${where}: no schema ${name}`);
  if (!v(doc))
    problems.push(`${where}: not a valid ${name}: ` +
                  v.errors.slice(0, 4).map((e) => `${e.instancePath || '/'} ${e.message}`).join(', '));
}

const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
if (mode === 'sse') {
  const [task, msg] = [a1, a2];
  const frames = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim() || block.startsWith(':')) continue; // keep-alive comment
    if (!block.startsWith('data: ') || block.includes('\n')) {
      problems.push('bad SSE framing: ' + JSON.stringify(block.slice(0, 80)));
      continue;
    }
    try {
      frames.push(JSON.parse(block.slice(6)));
    } catch (e) {
      problems.push('frame is not JSON: ' + block.slice(0, 80));
    }
  }
  frames.forEach((f, i) => {
    const where = `frame ${i} (${f.type})`;
    if (f.type === 'connected') {
      if (typeof f.taskId !== 'string') problems.push(where + ': no taskId');
    } else if (UPDATE[f.type]) {
      validate(UPDATE[f.type], f, where);
    } else if (f.type === 'task_updated') {
      validate('Task', f.task, where + ' .task');
    } else if (f.type !== 'error') {
      problems.push(where + ': unknown frame type');
    }
  });
  if (!frames.length || frames[0].type !== 'connected' || frames[0].taskId !== task)
    problems.push('the first frame is not {"type":"connected","taskId":"' + task + '"}');
  const full = frames.find((f) => f.type === 'full' && f.parent_task_message && f.parent_task_message.id === msg);
  if (msg && (!full || !full.content || full.content.content !== 'to the stream'))
    problems.push('no full frame for message ' + msg);
  if (msg && !frames.some((f) => f.type === 'task_updated' && f.task && f.task.task_metadata &&
                                 f.task.task_metadata.streamed === true))
    problems.push('no task_updated for the metadata change');
  const last = frames[frames.length - 1];
  if (!last || last.type !== 'task_updated' || !last.task || last.task.id !== task || last.task.status !== 'COMPLETED')
    problems.push('the last frame is not the COMPLETED task_updated');
  if (problems.length) problems.push('frames: ' + frames.map((f) => f.type).join(','));
} else if (mode === 'ndjson') {
  const id = a1;
  const lines = text.split('\n').filter((l) => l.length);
  const types = [];
  lines.forEach((l, i) => {
    let o;
    try {
      o = JSON.parse(l);
    } catch (e) {
      return problems.push(`line ${i}: not JSON: ${l.slice(0, 80)}`);
    }
    if (o.jsonrpc !== '2.0' || o.id !== id || o.error !== null || !o.result)
      return problems.push(`line ${i}: not {"jsonrpc":"2.0","id":${JSON.stringify(id)},"error":null,"result":{...}}`);
    types.push(o.result.type);
    if (!UPDATE[o.result.type]) return problems.push(`line ${i}: result type ${o.result.type}`);
    validate(UPDATE[o.result.type], o.result, `line ${i}`);
  });
  if (types[0] !== 'start' || types[types.length - 1] !== 'done')
    problems.push('updates are not start ... done: ' + types.join(','));
} else {
  problems.push('usage: stream_check.js SPEC sse|ndjson FILE ...');
}
console.log(problems.length ? problems.join('; ') : 'ok');
