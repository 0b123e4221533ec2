// The IPC interop scenario: unmodified electron-common-ipc 16.0.4 clients in plain Node
// against a broker given on the command line (`--port N` on 127.0.0.1, or `--path P` for a
// unix socket). It prints one JSON event per step and, last, {"event":"summary",...} with
// every observable result normalised (no ids, no timings), so that the same run against the
// package's own Node broker and against switchboard can be compared field by field.
//
// Every client gets its own socket: the transport is a process-wide singleton kept in
// globalThis.ecIpcContainer, which is reset before each CreateIpcBusClient().
'use strict';
const { EventEmitter } = require('events');
const {
  CreateIpcBusClient,
  CreateIpcBusService,
  CreateIpcBusServiceProxy,
} = require('electron-common-ipc');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const target = opt('--path')
  ? { path: opt('--path') }
  : { port: Number(opt('--port')), host: '127.0.0.1' };
const crowdSize = Number(opt('--crowd') || 200);

const emit = (event) => console.log(JSON.stringify(event));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, cond, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/// A JSON-comparable description of a received JS value, keeping its type.
function describe(v) {
  if (v === undefined) return { t: 'undefined' };
  if (v === null) return { t: 'null' };
  if (typeof v === 'number') return { t: 'number', v: Number.isNaN(v) ? 'NaN' : v };
  if (typeof v === 'string' || typeof v === 'boolean') return { t: typeof v, v };
  if (v instanceof Date) return { t: 'Date', v: v.getTime() };
  if (Buffer.isBuffer(v)) return { t: 'Buffer', v: [...v] };
  if (v instanceof ArrayBuffer) return { t: 'ArrayBuffer', v: [...new Uint8Array(v)] };
  if (ArrayBuffer.isView(v)) return { t: v.constructor.name, v: Array.from(v) };
  if (Array.isArray(v)) return { t: 'Array', v: v.map(describe) };
  if (v instanceof Error) return { t: 'Error', v: v.message };
  return {
    t: 'Object',
    v: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)])),
  };
}

async function connect(name) {
  globalThis.ecIpcContainer = undefined; // a new transport, so a new socket
  const client = CreateIpcBusClient();
  await client.connect({ ...target, peerName: name, timeoutDelay: 5000 });
  return client;
}

/// Resolves once the broker has processed everything `client` sent before: a request
/// answered by the helper client comes back (retried while the helper's own listener is
/// not registered yet).
async function sync(client) {
  for (let i = 0; i < 50; i += 1) {
    try {
      await client.request('__sync', 500);
      return;
    } catch (_) {
      // not yet
    }
  }
  throw new Error(`sync of ${client.peer.name} failed`);
}

const received = {};
function recorder(who) {
  return (event, ...values) => {
    (received[who] ||= []).push({ channel: event.channel, args: values.map(describe) });
  };
}
const count = (who, channel) => (received[who] || []).filter((m) => m.channel === channel).length;
const got = (who, channel) =>
  (received[who] || []).filter((m) => m.channel === channel).map((m) => m.args);

async function main() {
  const keepAlive = setInterval(() => {}, 1000); // the client sockets are unref()'d
  const summary = {};

  const helper = await connect('helper');
  helper.addListener('__sync', (event) => event.request && event.request.resolve('ok'));
  helper.addListener('echo', (event, x) => event.request && event.request.resolve(x));

  // --- connect, addListener, broadcast, sender exclusion, targeted send ------------------
  const a = await connect('peerA');
  const b = await connect('peerB');
  const c = await connect('peerC');
  emit({ event: 'connected', names: [a.peer.name, b.peer.name, c.peer.name] });
  const onNewsB = recorder('B');
  a.addListener('news', recorder('A'));
  b.addListener('news', onNewsB);
  c.addListener('news', recorder('C'));
  await Promise.all([sync(a), sync(b), sync(c)]);
  c.send('news', 'hello', 42);
  c.sendTo(b.peer, 'news', 'only b');
  c.send('news', 'marker1');
  await waitFor('news at A and B', () => count('A', 'news') >= 2 && count('B', 'news') >= 3);
  await sync(c);
  summary.broadcast = { A: got('A', 'news'), B: got('B', 'news'), C: got('C', 'news') };
  emit({ event: 'broadcast', ...summary.broadcast });

  // --- a message to a process through a direct channel (the target is in the channel name) --
  const direct = a.createDirectChannel();
  a.addListener(direct, recorder('A'));
  await sync(a);
  c.send(direct, 'to a process');
  await waitFor('the direct message', () => count('A', direct) >= 1);
  summary.direct = { A: got('A', direct), prefix: direct.slice(0, 16) };
  emit({ event: 'direct', ...summary.direct });

  // --- every value type --------------------------------------------------------------------
  a.addListener('types', recorder('A'));
  await sync(a);
  c.send(
    'types',
    'héllo', 0, 7, -7, 4294967295, 4294967296, 1.5, -0.25, NaN,
    true, false, null, undefined, new Date(0), Buffer.from([1, 2, 3]), [1, 'a'],
    { k: 'v', n: 1, d: new Date(0), b: Buffer.from([9]) },
    new Uint8Array([4, 5]), new ArrayBuffer(2), new Float64Array([1.5]),
  );
  await waitFor('the types message', () => count('A', 'types') >= 1);
  summary.types = got('A', 'types')[0];
  emit({ event: 'types', args: summary.types });

  // --- request: resolve, reject, timeout ---------------------------------------------------
  a.addListener('compute', (event, x, y) => {
    if (x < 0) event.request.reject('negative!');
    else event.request.resolve({ sum: x + y });
  });
  await sync(a);
  const resolved = await b.request('compute', 2000, 2, 3);
  summary.resolve = { payload: describe(resolved.payload), sender: resolved.event.sender.name };
  try {
    await b.request('compute', 2000, -1, 3);
    summary.reject = 'resolved?!';
  } catch (e) {
    summary.reject = { err: e.err, sender: e.event && e.event.sender && e.event.sender.name };
  }
  const started = Date.now();
  try {
    await b.request('nobody-listens', 300, 1);
    summary.timeout = 'resolved?!';
  } catch (e) {
    summary.timeout = { rejected: true, afterTimeout: Date.now() - started >= 250 };
  }
  emit({ event: 'requests', resolve: summary.resolve, reject: summary.reject, timeout: summary.timeout });

  // --- removeListener ----------------------------------------------------------------------
  b.removeListener('news', onNewsB);
  b.addListener('news3', recorder('B'));
  await sync(b);
  c.send('news', 'after remove');
  c.send('news3', 'marker2');
  await waitFor('marker2 at B', () => count('B', 'news3') >= 1);
  await waitFor('after remove at A', () => count('A', 'news') >= 3);
  summary.removed = { A: got('A', 'news').slice(2), B: got('B', 'news').slice(3), B3: got('B', 'news3') };
  emit({ event: 'removeListener', ...summary.removed });

  // --- a service called through its proxy --------------------------------------------------
  class Calc extends EventEmitter {
    add(x, y) { return x + y; }
    async slowMul(x, y) { await sleep(10); return x * y; }
  }
  const calc = new Calc();
  const service = CreateIpcBusService(a, 'calc', calc);
  service.start();
  const proxy = CreateIpcBusServiceProxy(b, 'calc');
  await proxy.connect({ timeoutDelay: 2000 });
  const ticks = [];
  proxy.on('tick', (...values) => ticks.push(values.map(describe)));
  summary.service = {
    started: proxy.isStarted,
    add: await proxy.call('add', 2, 3),
    slowMul: await proxy.call('slowMul', 4, 5),
  };
  calc.emit('tick', 7);
  await waitFor('the tick event', () => ticks.length >= 1);
  summary.service.ticks = ticks;
  emit({ event: 'service', ...summary.service });

  // --- a responder disconnects while a request is pending ----------------------------------
  const d = await connect('peerD');
  let arrived = false;
  d.addListener('slow', () => { arrived = true; });
  await sync(d);
  const pendingStart = Date.now();
  const pending = b.request('slow', 1000, 'anyone?').then(
    () => ({ outcome: 'resolved' }),
    (e) => ({ outcome: 'rejected', err: typeof e.err, afterTimeout: Date.now() - pendingStart >= 900 }),
  );
  await waitFor('the slow request at D', () => arrived);
  await d.close();
  summary.pending = await pending;
  emit({ event: 'pending', ...summary.pending });

  // --- two hundred clients at once ---------------------------------------------------------
  const crowd = await Promise.all(
    Array.from({ length: crowdSize }, (_, i) => connect(`crowd${i}`)),
  );
  let crowdReceived = 0;
  crowd.forEach((client) => client.addListener('crowd', () => { crowdReceived += 1; }));
  await Promise.all(crowd.map(sync));
  c.send('crowd', 'hi');
  await waitFor('the crowd message', () => crowdReceived >= crowdSize);
  const echoes = await Promise.all(
    crowd.map((client, i) => client.request('echo', 5000, i).then((r) => r.payload === i)),
  );
  await sync(c);
  summary.crowd = {
    clients: crowd.length,
    received: crowdReceived,
    echoed: echoes.filter(Boolean).length,
  };
  emit({ event: 'crowd', ...summary.crowd });
  await Promise.all(crowd.map((client) => client.close()));

  // --- close -------------------------------------------------------------------------------
  let closedSeen = false;
  proxy.close();
  service.stop();
  for (const client of [a, b, c, helper]) await client.close();
  closedSeen = true;
  summary.closed = closedSeen;
  emit({ event: 'summary', ...summary });
  clearInterval(keepAlive);
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ event: 'error', message: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
