// The IPC side of the cross-protocol test (MQTT and Engine.IO on the other side), with an
// unmodified electron-common-ipc 16 client. Usage: node cross.js --port N.
// 1. listens on `cross/in`, prints {"event":"ready"};
// 2. prints {"event":"received",...} for each message there (the test publishes with
//    mosquitto_pub: MQTT 3.1.1 bytes, then MQTT 5 with payload-format-indicator 1);
// 3. after two, sends `cross/out/text` "hello mqtt", `cross/out/bin` Buffer [0,1,2,255]
//    and `cross/out/json` {"a":1};
// 4. requests `svc/ipc-ask` {n: 21} (answered by an Engine.IO client) and prints it.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const emit = (event) => console.log(JSON.stringify(event));
const describe = (v) => (Buffer.isBuffer(v) ? { t: 'Buffer', v: [...v] } : { t: typeof v, v });

async function main() {
  const keepAlive = setInterval(() => {}, 1000);
  const client = CreateIpcBusClient();
  await client.connect(port, '127.0.0.1', { peerName: 'cross', timeoutDelay: 5000 });
  const received = [];
  client.addListener('cross/in', (event, ...values) => {
    received.push(values);
    emit({ event: 'received', sender: event.sender.name, args: values.map(describe) });
  });
  try { await client.request('no-such-channel', 100); } catch (_) { /* round trip done */ }
  emit({ event: 'ready' });
  const deadline = Date.now() + 15000;
  while (received.length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  client.send('cross/out/text', 'hello mqtt');
  client.send('cross/out/bin', Buffer.from([0, 1, 2, 255]));
  client.send('cross/out/json', { a: 1 });
  const answer = await client.request('svc/ipc-ask', 5000, { n: 21 });
  emit({ event: 'answer', payload: answer.payload, sender: answer.event.sender.name });
  await client.close();
  clearInterval(keepAlive);
}

main().then(
  () => process.exit(0),
  (e) => {
    emit({ event: 'error', message: String(e && e.stack ? e.stack : e) });
    process.exit(1);
  },
);
