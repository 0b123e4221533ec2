'use strict';
// Echo upstream for switchboard-proxy's tests: a Node `http` server plus a `ws` WebSocket
// server on one port (127.0.0.1, ephemeral). It prints {"port":N} on stdout once listening.
//
// HTTP: answers JSON {server, method, url, httpVersion, headers, rawHeaders, bodyLength,
// bodySha256, body (when under 64 KiB)}. Request headers steer it:
//   x-test-status: N            answer with status N
//   x-test-location: URL        set Location
//   x-test-set-cookie: a|b      one Set-Cookie header per `|`-separated value
//   x-test-delay-ms: N          wait N ms before answering
//   x-test-response-bytes: N    stream N bytes (chunked, no content-length) instead of JSON
//   x-test-die: before          destroy the socket after reading the body, before answering
//   x-test-die: mid             send headers and part of the body, then destroy the socket
//   x-test-echo-body: 1         stream the request body straight back (chunked) as it arrives
//   x-test-announce: 1          print {"event":"request","url":...} on stdout when it arrives
// GET /__ws_closes answers the close codes the ws server received from clients.
//
// WebSocket: echoes text and binary messages. A text message "close:CODE:REASON" makes the
// server close with that code and reason.
const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');

const closes = [];
const server = http.createServer((req, res) => {
  if (req.url === '/__ws_closes') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(closes));
    return;
  }
  if (req.headers['x-test-announce']) {
    process.stdout.write(JSON.stringify({ event: 'request', url: req.url }) + '\n');
  }
  if (req.headers['x-test-echo-body']) {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    req.pipe(res);
    return;
  }
  const hash = crypto.createHash('sha256');
  let length = 0;
  const small = [];
  req.on('data', (chunk) => {
    hash.update(chunk);
    length += chunk.length;
    if (length <= 65536) small.push(chunk);
  });
  req.on('end', () => {
    const h = req.headers;
    if (h['x-test-die'] === 'before') {
      req.socket.destroy();
      return;
    }
    const answer = () => {
      const status = Number(h['x-test-status'] || 200);
      if (h['x-test-location']) res.setHeader('location', h['x-test-location']);
      if (h['x-test-set-cookie']) res.setHeader('set-cookie', h['x-test-set-cookie'].split('|'));
      if (h['x-test-die'] === 'mid') {
        res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': '100000' });
        res.write(Buffer.alloc(1000, 0x61), () => setTimeout(() => req.socket.destroy(), 20));
        return;
      }
      if (h['x-test-response-bytes']) {
        let left = Number(h['x-test-response-bytes']);
        res.writeHead(status, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(65536, 0x62);
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length);
            left -= n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      const body = Buffer.concat(small);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        server: 'node',
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        remotePort: req.socket.remotePort,
        headers: h,
        rawHeaders: req.rawHeaders,
        bodyLength: length,
        bodySha256: hash.digest('hex'),
        body: length <= 65536 ? body.toString('utf8') : null,
      }));
    };
    const delay = Number(h['x-test-delay-ms'] || 0);
    if (delay > 0) setTimeout(answer, delay); else answer();
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? null : data.toString('utf8');
    if (text !== null && text.startsWith('close:')) {
      const [, code, ...reason] = text.split(':');
      ws.close(Number(code), reason.join(':'));
      return;
    }
    if (text !== null && text === 'headers') {
      ws.send(JSON.stringify({ url: req.url, headers: req.headers }));
      return;
    }
    ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString('utf8') }));
  ws.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
// Exit when the test harness closes our stdin (the test process ended).
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
