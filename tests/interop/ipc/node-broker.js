// Runs the package's own Node broker (electron-common-ipc 16 `CreateIpcBusBroker`) on an
// ephemeral loopback port and prints {"event":"listening","port":N}. Runs until killed.
'use strict';
const net = require('net');
const { CreateIpcBusBroker } = require('electron-common-ipc');

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

(async () => {
  const port = await freePort();
  const broker = CreateIpcBusBroker();
  await broker.connect(port, '127.0.0.1');
  // The broker's server is unref()'d: keep the process alive.
  setInterval(() => {}, 60 * 60 * 1000);
  console.log(JSON.stringify({ event: 'listening', port }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
