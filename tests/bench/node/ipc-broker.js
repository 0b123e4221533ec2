// The Node broker of electron-common-ipc 16, unmodified. Usage: node ipc-broker.js --port P
'use strict';
const { CreateIpcBusBroker } = require('electron-common-ipc');

const i = process.argv.indexOf('--port');
const port = Number(i > 0 ? process.argv[i + 1] : '0');
const broker = CreateIpcBusBroker();
broker
  .connect({ port, host: '127.0.0.1' })
  .then(() => console.log(`electron-common-ipc broker on ${port}`))
  .catch((e) => {
    console.error(e);
    process.exit(1);
  });
// The broker's server socket is unref()'d: keep the process alive.
setInterval(() => {}, 1 << 30);
