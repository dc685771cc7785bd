#!/usr/bin/env node
// json.js - JSON look-ups for the conformance session (test helper only).
//
//   json.js FILE EXPR...   evaluates each JavaScript expression EXPR with `o` bound to
//                          the JSON document in FILE; prints one line per expression
//   json.js --serve        the same as a server (one node for the whole session): reads
//                          requests "FILE\x1fEXPR\x1fEXPR...\n" on stdin and answers
//                          one line per expression on stdout
//
// Output lines: strings as they are, undefined/null as an empty line, anything else
// (and strings containing a newline) as compact JSON; "<not json>" for every
// expression when FILE is not JSON.
'use strict';
const fs = require('fs');

function answer(file, exprs) {
  let o;
  try {
    o = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return exprs.map(() => '<not json>');
  }
  return exprs.map((expr) => {
    let v;
    try {
      v = new Function('o', 'return (' + expr + ');')(o);
    } catch (e) {
      v = undefined;
    }
    if (v === undefined || v === null) return '';
    if (typeof v === 'string' && !v.includes('\n')) return v;
    return JSON.stringify(v);
  });
}

if (process.argv[2] === '--serve') {
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const [file, ...exprs] = buf.slice(0, i).split('\x1f');
      buf = buf.slice(i + 1);
      fs.writeSync(1, answer(file, exprs).map((l) => l + '\n').join(''));
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else {
  const out = answer(process.argv[2], process.argv.slice(3));
  for (const l of out) console.log(l);
  process.exit(out.length && out[0] === '<not json>' ? 1 : 0);
}
