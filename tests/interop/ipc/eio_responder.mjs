// A browser-side responder for the cross-protocol test: switchboard's own JavaScript client
// (/switchboard.js, Engine.IO control mode over WebSocket) answers requests on `svc/#`.
// Usage: node eio_responder.mjs <http base url>. Prints {"event":"ready"}, then one
// {"event":"answered",...} per request; runs until killed.
import WebSocket from 'ws';

const [url] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const source = await (await fetch(url + '/switchboard.js')).text();
const { connect } = await import('data:text/javascript;base64,' + Buffer.from(source).toString('base64'));
const sb = connect(url, { WebSocket, transports: ['websocket'] });
await sb.ready();
await sb.subscribe('svc/#', (data, meta) => {
  out({ event: 'answered', topic: meta.topic, data });
  meta.reply({ answeredBy: 'engineio', doubled: data && typeof data.n === 'number' ? 2 * data.n : null });
});
out({ event: 'ready' });
setInterval(() => {}, 1000);
