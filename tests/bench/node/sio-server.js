// The Node socket.io 4 peer: the control events of switchboard's Socket.IO namespace
// (`subscribe` with an acknowledgement, `publish`, deliveries as `message` events) over an
// in-memory pub/sub, written the idiomatic way: one room per exact topic, so a publish is
// one `io.to(topic).emit(...)` (encoded once for all its sockets); wildcard filters are
// matched on a slower path. Usage: node sio-server.js --port P
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '0'));

const wildcards = new Map(); // socket -> Set of wildcard filters
function matches(filter, topic) {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer);
io.on('connection', (socket) => {
  socket.on('subscribe', (filter, ack) => {
    if (typeof filter !== 'string') return ack && ack({ ok: false, code: 'bad_request' });
    if (/[+#]/.test(filter)) {
      if (!wildcards.has(socket)) wildcards.set(socket, new Set());
      wildcards.get(socket).add(filter);
    } else {
      socket.join(filter);
    }
    if (ack) ack({ ok: true });
  });
  socket.on('unsubscribe', (filter, ack) => {
    socket.leave(filter);
    const w = wildcards.get(socket);
    if (w) w.delete(filter);
    if (ack) ack({ ok: true });
  });
  socket.on('publish', (topic, data, opts, ack) => {
    if (typeof opts === 'function') [opts, ack] = [{}, opts];
    const meta = { retain: false, qos: opts && opts.qos >= 1 ? 1 : 0 };
    io.to(topic).emit('message', topic, data, meta);
    for (const [s, filters] of wildcards) {
      for (const f of filters) {
        if (matches(f, topic)) {
          s.emit('message', topic, data, meta);
          break;
        }
      }
    }
    if (ack) ack({ ok: true });
  });
  socket.on('disconnect', () => wildcards.delete(socket));
});
httpServer.listen(port, '127.0.0.1', () => console.log(`socket.io on ${port}`));
