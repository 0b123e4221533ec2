// A small dashboard written against a Node socket.io server, the way such dashboards are:
// a "sensor" socket publishes readings, the "dashboard" socket subscribes and renders them,
// sends a command, and shows errors. It runs unchanged against any server with the same
// events. Usage: node dashboard.mjs <url>. Prints what the user would see, one JSON per line.
import { io } from "socket.io-client";

const url = process.argv[2];
const show = (o) => console.log(JSON.stringify(o));
const view = (d) => (Buffer.isBuffer(d) ? { bytes: [...d] } : d);
setTimeout(() => {
  show({ event: "failure", why: "timed out" });
  process.exit(1);
}, 20000).unref();

const connect = () =>
  new Promise((resolve, reject) => {
    const s = io(url, { transports: ["websocket"], forceNew: true });
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
const call = (s, ...args) => new Promise((resolve) => s.emit(...args, resolve));

const sensor = await connect();
const dashboard = await connect();
const seen = [];
const arrived = (n) =>
  new Promise((resolve) => {
    const check = () => (seen.length >= n ? resolve() : setTimeout(check, 5));
    check();
  });
dashboard.on("message", (topic, data, meta) => {
  seen.push({ topic, data: view(data), retain: meta.retain, qos: meta.qos });
});

// the last reading is retained: a dashboard opened later still shows it
show({ event: "ack", what: "retained", ...(await call(sensor, "publish", "plant/1/temp", 20.5, { retain: true })) });
show({ event: "ack", what: "subscribe", ...(await call(dashboard, "subscribe", "plant/+/temp")) });
await arrived(1);
await call(sensor, "publish", "plant/2/temp", { celsius: 21, ok: true });
await call(sensor, "publish", "plant/3/temp", "n/a", { qos: 1 });
await call(sensor, "publish", "plant/4/temp", Buffer.from([1, 2, 255]));
await call(sensor, "publish", "plant/1/humidity", 40); // not subscribed: never shown
await arrived(4);
for (const m of seen.splice(0)) show({ event: "message", ...m });
// a command, then a mistake the server reports
show({ event: "ack", what: "command", ...(await call(dashboard, "publish", "plant/1/fan", "on")) });
const bad = await call(dashboard, "publish", "plant/+/fan", "on");
show({ event: "ack", what: "bad topic", ok: bad.ok, code: bad.code });
show({ event: "ack", what: "unsubscribe", ...(await call(dashboard, "unsubscribe", "plant/+/temp")) });
await call(sensor, "publish", "plant/1/temp", 22);
await call(dashboard, "subscribe", "plant/1/fan"); // a round trip after the unsubscribed reading
show({ event: "after-unsubscribe", messages: seen.filter((m) => m.topic === "plant/1/temp").length });
sensor.close();
dashboard.close();
show({ event: "done" });
