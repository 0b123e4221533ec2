// node-http-proxy 1.18 as a reverse proxy, with (`--agent keepalive`) or without
// (`--agent none`, the library's default: a new upstream connection per request) a
// keep-alive agent; adds X-Forwarded-* like the other proxies measured.
// Usage: node http-proxy.js --port P --target http://127.0.0.1:U --agent keepalive|none
'use strict';
const http = require('http');
const httpProxy = require('http-proxy');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '0'));
const target = arg('target', 'http://127.0.0.1:80');
const agent =
  arg('agent', 'none') === 'keepalive'
    ? new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 })
    : undefined;

const proxy = httpProxy.createProxyServer({ target, agent, xfwd: true });
proxy.on('error', (err, req, res) => {
  if (res && !res.headersSent && res.writeHead) {
    res.writeHead(502);
  }
  if (res && res.end) res.end();
});
const server = http.createServer((req, res) => {
  // The same path rule as the other proxies: /up/... -> /...
  req.url = req.url.replace(/^\/up/, '') || '/';
  proxy.web(req, res);
});
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => console.log(`node-http-proxy on ${port}`));
