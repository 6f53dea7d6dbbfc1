// WebSocket clients written with Node's `ws` package (Debian's node-ws), for
// the reliability suite: a client no one in this repository wrote. It speaks
// the protocol of e2e/internal/wsload and prints the same JSON:
//
//   node wsclient.js <url> <clients> <first-client-number> <server-header>
//
// Each client sends "e2e-ready", which the server echoes, then reads numbered
// text messages, checks order and gaps, answers
// the server's close frame, reconnects at once, and records each connection.
// Commands on stdin: "sync" prints "sync <connected> <min-last>" (the lowest
// last message number among the connected clients); "stop" closes every
// client with 1000 and prints {"conns": [...], "dial_failures": [...]}.
'use strict';

let WebSocket;
try {
  WebSocket = require('ws');
} catch (e) {
  WebSocket = require('/usr/share/nodejs/ws');
}
const readline = require('readline');

const [url, nArg, firstArg, headerArg] = process.argv.slice(2);
const n = parseInt(nArg || '10', 10);
const first = parseInt(firstArg || '0', 10);
const header = (headerArg || 'X-Server').toLowerCase();
const { performance } = require('perf_hooks');
// Unix nanoseconds (to the microsecond), as a JSON number.
const nowNs = () => Math.round((performance.timeOrigin + performance.now()) * 1000) * 1000;

// Each client sends PROBE after the handshake; the connection counts as set
// up when the server has echoed it (the server's hub may track a connection
// a moment after the handshake's response has left).
const PROBE = 'e2e-ready';

const out = { conns: [], dial_failures: [] };
let connected = 0;
let stopping = false;
const live = new Set();

function connect(id, backoff) {
  if (stopping) return;
  const ws = new WebSocket(url, { handshakeTimeout: 5000, perMessageDeflate: false });
  const rec = { client: id, server: '', t_conn: 0, t_close: 0, by: '', code: 0,
    first: -1, last: -1, count: 0, gaps: 0, bad: 0 };
  let opened = false;
  let counted = false; // counted in `connected`
  let status = 0;
  ws.on('upgrade', (res) => { rec.server = res.headers[header] || ''; });
  ws.on('unexpected-response', (req, res) => {
    status = res.statusCode;
    res.resume();
    req.destroy(new Error('unexpected response ' + res.statusCode));
  });
  ws.on('open', () => {
    opened = true;
    live.add(ws);
    ws._rec = rec;
    ws.send(PROBE);
  });
  ws.on('message', (data) => {
    if (rec.by !== '') return;
    const s = data.toString();
    if (s === PROBE && rec.t_conn === 0) {
      // The server echoed: it tracks the connection now.
      rec.t_conn = nowNs();
      connected++;
      counted = true;
      ws._counted = true;
      return;
    }
    if (!/^[0-9]+$/.test(s)) { rec.bad++; return; }
    const v = parseInt(s, 10);
    if (rec.first < 0) rec.first = v;
    else if (v !== rec.last + 1) rec.gaps++;
    rec.last = v;
    rec.count++;
  });
  ws.on('error', (err) => {
    if (!opened) {
      const f = { client: id, t: nowNs(), err: String(err && err.message) };
      if (status) f.status = status;
      out.dial_failures.push(f);
    } else if (!rec.err) {
      rec.err = String(err && err.message);
    }
  });
  ws.on('close', (code) => {
    if (!opened) {
      if (!stopping) setTimeout(() => connect(id, Math.min(backoff * 2, 200)), backoff);
      return;
    }
    live.delete(ws);
    if (counted) { counted = false; connected--; }
    if (rec.by === '') {
      // ws reports 1006 when no close frame arrived
      rec.by = code === 1006 ? 'error' : 'server';
      rec.code = code;
      rec.t_close = rec.t_close_frame || nowNs();
    }
    if (rec.t_conn === 0) rec.t_conn = rec.t_close; // never set up: nothing was due to it
    out.conns.push(rec);
    if (!stopping) connect(id, 10);
  });
  // The close frame's arrival, before ws answers it ('close' fires only when
  // the TCP connection has ended): uncount the connection first, so that
  // once the server has our answer (and may exit) "sync" no longer counts it.
  ws.once('open', () => {
    const r = ws._receiver;
    if (r && r.prependListener) {
      r.prependListener('conclude', () => {
        if (!rec.t_close_frame) rec.t_close_frame = nowNs();
        if (counted) { counted = false; ws._counted = false; connected--; }
      });
    }
  });
}

for (let i = 0; i < n; i++) connect(first + i, 10);

const rl = readline.createInterface({ input: process.stdin });
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  stopping = true;
  const pending = [];
  for (const ws of live) {
    pending.push(new Promise((resolve) => {
      const rec = ws._rec;
      rec.by = 'client';
      rec.code = 1000;
      rec.t_close = nowNs();
      ws.once('close', resolve);
      ws.close(1000);
      setTimeout(() => { ws.terminate(); resolve(); }, 5000);
    }));
  }
  Promise.all(pending).then(() => {
    for (const c of out.conns) delete c.t_close_frame;
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  });
}
rl.on('line', (line) => {
  if (line === 'sync') {
    let lowest = null;
    for (const ws of live) {
      if (ws._counted && (lowest === null || ws._rec.last < lowest)) lowest = ws._rec.last;
    }
    process.stdout.write('sync ' + connected + ' ' + (lowest === null ? -1 : lowest) + '\n');
  }
  else if (line === 'stop') finish();
});
rl.on('close', finish);
setTimeout(finish, 10 * 60 * 1000).unref();
