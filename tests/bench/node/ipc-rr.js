// Request/response with the stock electron-common-ipc 16 clients, as an application would
// use them. `--role responder` answers every request on `bench/rr`; `--role requester`
// keeps `--concurrency` requests outstanding for `--warmup` + `--seconds` and prints one JSON
// line: {"count", "seconds", "rate", "p50_us", "p99_us", "errors"} for the measured part.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '0'));
const role = arg('role', 'requester');
const concurrency = Number(arg('concurrency', '1'));
const warmup = Number(arg('warmup', '1')) * 1000;
const seconds = Number(arg('seconds', '3')) * 1000;
const payload = 'x'.repeat(Number(arg('payload', '100')));

setInterval(() => {}, 1 << 30);

async function main() {
  const client = CreateIpcBusClient();
  await client.connect({ port, host: '127.0.0.1' }, { peerName: role });
  if (role === 'responder') {
    client.addListener('bench/rr', (event, data) => {
      if (event.request) event.request.resolve(data);
    });
    console.log('responder ready');
    return;
  }
  const start = Date.now();
  const measureFrom = start + warmup;
  const end = measureFrom + seconds;
  const lat = [];
  let errors = 0;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      try {
        await client.request('bench/rr', 2000, payload);
        const t1 = process.hrtime.bigint();
        if (Date.now() >= measureFrom && Date.now() < end) lat.push(Number(t1 - t0) / 1000);
      } catch (e) {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null);
  console.log(
    JSON.stringify({
      count: lat.length,
      seconds: seconds / 1000,
      rate: lat.length / (seconds / 1000),
      p50_us: q(0.5),
      p99_us: q(0.99),
      errors,
    })
  );
  process.exit(0);
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
