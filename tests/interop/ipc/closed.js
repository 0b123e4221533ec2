// Connects an unmodified electron-common-ipc 16 client (`--port N`), prints
// {"event":"ready"}, and {"event":"closed"} when the broker ends the connection (the client
// does not reconnect). Exits 0 then, 1 if nothing happens within 20 s.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const emit = (event) => console.log(JSON.stringify(event));

(async () => {
  const timer = setTimeout(() => process.exit(1), 20000);
  const client = CreateIpcBusClient();
  client.onClosed(() => {
    emit({ event: 'closed' });
    clearTimeout(timer);
    process.exit(0);
  });
  await client.connect(port, '127.0.0.1', { peerName: 'closed-test', timeoutDelay: 5000 });
  client.addListener('anything', () => {});
  try { await client.request('no-such-channel', 100); } catch (_) { /* round trip done */ }
  emit({ event: 'ready' });
})().catch((e) => {
  emit({ event: 'error', message: String(e) });
  process.exit(1);
});
