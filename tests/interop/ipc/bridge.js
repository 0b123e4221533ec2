// Cross-protocol through switchboard's fabric, with an unmodified electron-common-ipc 16
// client: `--port N` (127.0.0.1). The Rust side plays the other protocols on the fabric.
//
// 1. listens on `from-fabric` and `answer-me`, then prints {"event":"ready"};
// 2. prints {"event":"received",...} for each message on `from-fabric` (the Rust side
//    publishes text, binary and JSON);
// 3. answers requests on `answer-me` (from a fabric requester) with {"doubled": 2x};
// 4. once it has three messages, sends `to-fabric` a string, a Buffer and an object, then
//    requests `fabric-service` (answered by a fabric responder) and prints the results;
// 5. closes once it has answered two requests on `answer-me`.
'use strict';
const { CreateIpcBusClient } = require('electron-common-ipc');

const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
const emit = (event) => console.log(JSON.stringify(event));
const describe = (v) =>
  Buffer.isBuffer(v) ? { t: 'Buffer', v: [...v] } : { t: typeof v, v };

async function main() {
  const keepAlive = setInterval(() => {}, 1000);
  const client = CreateIpcBusClient();
  await client.connect(port, '127.0.0.1', { peerName: 'bridge-test', timeoutDelay: 5000 });
  const received = [];
  client.addListener('from-fabric', (event, ...values) => {
    received.push(values.map(describe));
    emit({ event: 'received', sender: event.sender.name, args: values.map(describe) });
  });
  let answered = 0;
  client.addListener('answer-me', (event, x) => {
    answered += 1;
    if (event.request) {
      if (x && typeof x.n === 'number') event.request.resolve({ doubled: 2 * x.n });
      else event.request.reject('not a number');
    }
  });
  // A round trip through the broker: both listeners are registered once it returns.
  try { await client.request('no-such-channel', 100); } catch (_) { /* expected */ }
  emit({ event: 'ready', peer: client.peer.id });

  const deadline = Date.now() + 10000;
  while (received.length < 3 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  client.send('to-fabric', 'plain text');
  client.send('to-fabric', Buffer.from([0, 1, 2]));
  client.send('to-fabric', { temp: 21.5, unit: 'C' });
  const answer = await client.request('fabric-service', 3000, { n: 20 });
  emit({ event: 'answer', payload: answer.payload, sender: answer.event.sender.name });
  try {
    await client.request('fabric-service', 3000, { n: -1 });
    emit({ event: 'rejection', err: null });
  } catch (e) {
    emit({ event: 'rejection', err: e.err });
  }
  // Stay until the fabric side has sent its two requests.
  const until = Date.now() + 10000;
  while (answered < 2 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
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
