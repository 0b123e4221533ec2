// A Node socket.io 4 server with the same events as switchboard's control namespace, over an
// in-memory pub/sub (MQTT-style filters, retained values): the "existing server" a dashboard
// was written for. Usage: node node-server.mjs  (prints {"event":"listening","port":N}).
import { createServer } from "node:http";
import { Server } from "socket.io";

const subscriptions = new Map(); // socket -> Set of filters
const retained = new Map(); // topic -> data

const validTopic = (t) => typeof t === "string" && t.length > 0 && !/[+#]/.test(t);
const validFilter = (f) =>
  typeof f === "string" &&
  f.length > 0 &&
  f.split("/").every((level, i, all) =>
    level === "#" ? i === all.length - 1 : level === "+" || !/[+#]/.test(level));

function matches(filter, topic) {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const error = (code, message) => ({ ok: false, code, message });

const http = createServer();
const io = new Server(http);
io.on("connection", (socket) => {
  const mine = new Set();
  subscriptions.set(socket, mine);
  socket.on("subscribe", (filter, ack) => {
    if (!validFilter(filter)) return ack?.(error("invalid_topic", "invalid filter"));
    mine.add(filter);
    ack?.({ ok: true });
    for (const [topic, data] of retained) {
      if (matches(filter, topic)) socket.emit("message", topic, data, { retain: true, qos: 0 });
    }
  });
  socket.on("unsubscribe", (filter, ack) => {
    mine.delete(filter);
    ack?.({ ok: true });
  });
  socket.on("publish", (topic, data, opts, ack) => {
    if (typeof opts === "function") [opts, ack] = [{}, opts];
    opts = opts || {};
    if (!validTopic(topic)) return ack?.(error("invalid_topic", "invalid topic"));
    if (opts.retain) retained.set(topic, data);
    const meta = { retain: false, qos: opts.qos >= 1 ? 1 : 0 };
    for (const [s, filters] of subscriptions) {
      if ([...filters].some((f) => matches(f, topic))) s.emit("message", topic, data, meta);
    }
    ack?.({ ok: true });
  });
  socket.on("disconnect", () => subscriptions.delete(socket));
});
http.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ event: "listening", port: http.address().port }));
});
