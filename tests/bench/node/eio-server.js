// The Node engine.io 6 peer: an echo server (`--mode echo`) or a broadcast server
// (`--mode broadcast`: every message goes to every open session, the sender included).
// Usage: node eio-server.js --port P --mode echo|broadcast
'use strict';
const http = require('http');
const { Server } = require('engine.io');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '0'));
const mode = arg('mode', 'echo');

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const eio = new Server({ path: '/engine.io/' });
eio.attach(httpServer, { path: '/engine.io/' });
eio.on('connection', (socket) => {
  if (mode === 'broadcast') {
    socket.on('message', (data) => {
      for (const id in eio.clients) eio.clients[id].send(data);
    });
  } else {
    socket.on('message', (data) => socket.send(data));
  }
});
httpServer.listen(port, '127.0.0.1', () => console.log(`engine.io ${mode} on ${port}`));
