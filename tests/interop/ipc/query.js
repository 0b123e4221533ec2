// queryState and service availability as unmodified electron-common-ipc 16.0.4 clients see
// them, against the broker given with `--port N` (127.0.0.1).
//
// Three clients on their own sockets: `host` listens on `ipc-news` and hosts the service
// `calc`; `watcher` keeps an IpcBusServiceProxy whose `isStarted` follows the service's start
// and stop events; `asker` checks whether `calc` is available the stock way (a fresh proxy's
// `connect()` asks `__getServiceStatus`) and asks the broker directly with requests on the
// channels the README names (`/electron-common-ipc/serviceAvailable` with the service name,
// and `/electron-common-ipc/queryState`). The fresh proxies live on another client than the
// long-lived one because 16.0.4 counts a channel's listeners per client, not per function:
// a proxy's close() would unsubscribe the other proxy's event channel at the broker. It does so before the service starts, while it runs,
// and after it stops. A request nobody answers is rejected by the client's own timeout and
// reported as {"answered": false}.
//
// Prints {"event":"state","payload":...} with the queryState answer while the service runs
// (when there is one), then {"event":"summary",...}.
'use strict';
const {
  CreateIpcBusClient,
  CreateIpcBusService,
  CreateIpcBusServiceProxy,
} = require('electron-common-ipc');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const emit = (event) => console.log(JSON.stringify(event));
const ASK_TIMEOUT = 1000;

async function connect(name) {
  globalThis.ecIpcContainer = undefined; // a new transport, so a new socket
  const client = CreateIpcBusClient();
  await client.connect(port, '127.0.0.1', { peerName: name, timeoutDelay: 5000 });
  return client;
}

/// Resolves once the broker has processed everything sent before (a request answered by
/// the host's `__sync` listener comes back).
async function sync(client) {
  for (let i = 0; i < 50; i += 1) {
    try {
      await client.request('__sync', 500);
      return;
    } catch (_) {
      // the host's listener is not registered yet
    }
  }
  throw new Error('sync failed');
}

async function ask(client, channel, ...values) {
  try {
    const res = await client.request(channel, ASK_TIMEOUT, ...values);
    return { answered: true, payload: res.payload, sender: res.event.sender.name };
  } catch (e) {
    return { answered: false };
  }
}

/// What the stock library says about `calc` from `asker`: a fresh proxy's connect(), and the
/// long-lived proxy's isStarted.
async function availability(asker, proxy) {
  const fresh = CreateIpcBusServiceProxy(asker, 'calc', { timeoutDelay: ASK_TIMEOUT });
  let connected;
  try {
    await fresh.connect();
    connected = true;
  } catch (_) {
    connected = false;
  }
  fresh.close();
  const request = await ask(asker, '/electron-common-ipc/serviceAvailable', 'calc');
  return { proxyConnect: connected, proxyIsStarted: proxy.isStarted, request };
}

(async () => {
  const keepAlive = setInterval(() => {}, 1000);
  const host = await connect('host');
  host.addListener('__sync', (event) => event.request && event.request.resolve('ok'));
  host.addListener('ipc-news', () => {});
  const asker = await connect('asker');
  const watcher = await connect('watcher');
  await sync(asker);
  // The long-lived proxy: its first connect fails (nothing started), but it keeps listening
  // to the service's events.
  const proxy = CreateIpcBusServiceProxy(watcher, 'calc', { timeoutDelay: ASK_TIMEOUT });
  await proxy.connect().catch(() => {});
  const summary = {};
  summary.before = await availability(asker, proxy);

  const calc = { add(a, b) { return a + b; } };
  const service = CreateIpcBusService(host, 'calc', calc);
  service.start();
  await sync(host);
  await sync(watcher);
  summary.during = await availability(asker, proxy);
  summary.add = await proxy.call('add', 2, 3).catch((e) => `error: ${e}`);
  const state = await ask(asker, '/electron-common-ipc/queryState');
  if (state.answered) emit({ event: 'state', payload: state.payload, sender: state.sender });
  summary.queryState = { answered: state.answered };

  service.stop();
  await sync(host);
  await sync(watcher);
  summary.after = await availability(asker, proxy);

  proxy.close();
  await watcher.close();
  await asker.close();
  await host.close();
  clearInterval(keepAlive);
  emit({ event: 'summary', ...summary });
})().catch((e) => {
  emit({ event: 'error', message: String(e && e.stack ? e.stack : e) });
  process.exit(1);
});
