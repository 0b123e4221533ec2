// A desktop app on the IPC bus driven line by line: an unmodified electron-common-ipc 16.0.4
// client, for the cross-protocol scenarios (tests/tests/interop_cross).
// Usage: node agent.js --port N --name PEER_NAME
//
// Commands on stdin, one JSON object per line ("args" items: {"t":"string","v":S},
// {"t":"Buffer","hex":H} or {"t":"json","v":J}):
//   {"cmd":"listen","channel":C}                       prints {"event":"msg",...} per message
//   {"cmd":"answer","channel":C}                       resolve requests on C with
//                                                      {"answeredBy":"ipc","got":[args]}
//   {"cmd":"reject","channel":C,"reason":R}            reject requests on C with R
//   {"cmd":"send","channel":C,"args":[...]}
//   {"cmd":"request","channel":C,"timeout":MS,"args":[...]}   prints {"event":"response",...}
//   {"cmd":"exit"}
// Every command is acknowledged with {"event":"done","cmd":...} once the client did it.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');
const readline = require('readline');

const argv = process.argv.slice(2);
const arg = (k) => argv[argv.indexOf(k) + 1];
const port = Number(arg('--port'));
const name = arg('--name');
const out = (o) => console.log(JSON.stringify({ agent: name, ...o }));
const describe = (v) => (Buffer.isBuffer(v) ? { t: 'Buffer', hex: v.toString('hex') } : { t: typeof v, v });
const value = (a) => (a.t === 'Buffer' ? Buffer.from(a.hex, 'hex') : a.v);
const plain = (v) => (Buffer.isBuffer(v) ? { hex: v.toString('hex') } : v);

async function main() {
  const keepAlive = setInterval(() => {}, 1000);
  const client = CreateIpcBusClient();
  await client.connect(port, '127.0.0.1', { peerName: name, timeoutDelay: 5000 });
  const rules = new Map(); // channel → {reason?}
  const listening = new Set();
  const listen = (channel) => {
    if (listening.has(channel)) return;
    listening.add(channel);
    client.addListener(channel, (event, ...args) => {
      out({ event: 'msg', channel, sender: event.sender.name, request: !!event.request, args: args.map(describe) });
      const rule = rules.get(channel);
      if (event.request && rule) {
        if (rule.reason) event.request.reject(rule.reason);
        else event.request.resolve({ answeredBy: 'ipc', got: args.map(plain) });
      }
    });
  };
  out({ event: 'ready' });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const c = JSON.parse(line);
    switch (c.cmd) {
      case 'listen':
        listen(c.channel);
        break;
      case 'answer':
      case 'reject':
        rules.set(c.channel, { reason: c.cmd === 'reject' ? c.reason || 'rejected' : undefined });
        listen(c.channel);
        break;
      case 'send':
        client.send(c.channel, ...(c.args || []).map(value));
        break;
      case 'request':
        client.request(c.channel, c.timeout || 5000, ...(c.args || []).map(value)).then(
          (r) => out({ event: 'response', channel: c.channel, ok: true, payload: plain(r.payload), sender: r.event.sender.name }),
          (r) => out({ event: 'response', channel: c.channel, ok: false, err: String(r && r.err !== undefined ? r.err : r) }),
        );
        break;
      case 'exit':
        await client.close();
        clearInterval(keepAlive);
        process.exit(0);
    }
    out({ event: 'done', cmd: c.cmd, channel: c.channel });
  }
  await client.close();
  clearInterval(keepAlive);
  process.exit(0);
}

main().catch((e) => {
  out({ event: 'error', message: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
