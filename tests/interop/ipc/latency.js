// Request/response latency with the stock electron-common-ipc 16 clients: a responder and
// a requester on separate sockets (`--port N` on 127.0.0.1), `--concurrency C` requests in
// flight, `--count N` requests in all. Prints
// {"event":"latency","p50_ms":..,"p99_ms":..,"round_trips_per_s":..}.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const port = opt('--port');
const concurrency = opt('--concurrency', 1);
const count = opt('--count', 200);

async function connect(name) {
  globalThis.ecIpcContainer = undefined; // one socket per client
  const client = CreateIpcBusClient();
  await client.connect(port, '127.0.0.1', { peerName: name, timeoutDelay: 5000 });
  return client;
}

async function main() {
  const keepAlive = setInterval(() => {}, 1000);
  const responder = await connect('responder');
  responder.addListener('rpc', (event, x) => event.request.resolve(x));
  const requester = await connect('requester');
  // Warm up (and wait until the listener is registered at the broker).
  for (let i = 0; i < 50; i += 1) {
    try { await requester.request('rpc', 500, i); break; } catch (_) { /* not yet */ }
  }
  for (let i = 0; i < 20; i += 1) await requester.request('rpc', 2000, i);
  const samples = [];
  let next = 0;
  const started = process.hrtime.bigint();
  async function worker() {
    while (next < count) {
      next += 1;
      const t0 = process.hrtime.bigint();
      await requester.request('rpc', 5000, next);
      samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  samples.sort((a, b) => a - b);
  const pct = (p) => samples[Math.min(samples.length - 1, Math.floor(samples.length * p))];
  console.log(JSON.stringify({
    event: 'latency',
    concurrency,
    count: samples.length,
    p50_ms: Number(pct(0.5).toFixed(3)),
    p99_ms: Number(pct(0.99).toFixed(3)),
    round_trips_per_s: Math.round(samples.length / elapsed),
  }));
  await requester.close();
  await responder.close();
  clearInterval(keepAlive);
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
