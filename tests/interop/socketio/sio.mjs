// socket.io-client 4.x against switchboard. Usage: node sio.mjs <url> <scenario> [arg].
// Scenarios: control <websocket|polling|upgrade> | events | namespaces | auth <jwt> | reconnect.
// Prints one JSON object per line; exits 0 when the scenario ran to its end.
import { io, Manager } from "socket.io-client";

const [url, scenario, arg] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const fail = (why) => {
  out({ event: "failure", why: String(why && why.stack ? why.stack : why) });
  process.exit(1);
};
setTimeout(() => fail(`scenario ${scenario} timed out`), 25000).unref();
const view = (d) => (Buffer.isBuffer(d) || d instanceof ArrayBuffer ? { bytes: [...Buffer.from(d)] } : d);
const call = (s, ...args) => s.timeout(5000).emitWithAck(...args);
const once = (s, ev) => new Promise((resolve) => s.once(ev, (...a) => resolve(a)));

function connect(path, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(url + path, { forceNew: true, reconnection: false, ...opts });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
  });
}

function refused(path, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = io(url + path, { forceNew: true, reconnection: false, ...opts });
    s.once("connect", () => reject(new Error(`${path} connected`)));
    s.once("connect_error", (e) => {
      s.close();
      resolve({ message: e.message, data: e.data ?? null });
    });
  });
}

async function control(transport) {
  const transports = transport === "websocket" ? ["websocket"] : ["polling", "websocket"];
  const s = await connect("/", { transports, upgrade: transport !== "polling" });
  if (transport === "upgrade" && s.io.engine.transport.name !== "websocket") {
    await once(s.io.engine, "upgrade");
  }
  out({ event: "connected", transport: s.io.engine.transport.name, id: s.id });
  const messages = [];
  s.on("message", (topic, data, meta) => messages.push({ topic, data: view(data), meta }));
  const next = () =>
    new Promise((resolve) => {
      const poll = () => (messages.length ? resolve(messages.shift()) : setTimeout(poll, 2));
      poll();
    });
  out({ event: "ack", what: "retain", ack: await call(s, "publish", "sio/r", { v: 0 }, { retain: true }) });
  out({ event: "ack", what: "subscribe", ack: await call(s, "subscribe", "sio/#") });
  out({ event: "message", ...(await next()) }); // the retained value
  for (const data of [{ v: 1 }, "text é", [1, 2], null, Buffer.from([0, 1, 254, 255])]) {
    await call(s, "publish", "sio/x", data, { qos: 1 });
    out({ event: "message", ...(await next()) });
  }
  // a publish without an ack still arrives, in order
  for (let i = 0; i < 50; i++) s.emit("publish", "sio/burst", i);
  const burst = [];
  for (let i = 0; i < 50; i++) burst.push((await next()).data);
  out({ event: "burst", ordered: burst.every((v, i) => v === i), count: burst.length });
  // errors carry the control protocol's codes
  out({ event: "ack", what: "invalid", ack: await call(s, "publish", "sio/+", 1) });
  out({ event: "ack", what: "forbidden", ack: await call(s, "subscribe", "secret/#") });
  out({ event: "ack", what: "unknown", ack: await call(s, "frobnicate", 1) });
  // requests: answered by a fabric responder (the test runs it on svc/echo)
  out({ event: "ack", what: "request", ack: await call(s, "request", "svc/echo", { n: 7 }, { timeout_ms: 3000 }) });
  const bin = await call(s, "request", "svc/echo", Buffer.from([5, 6]));
  out({ event: "ack", what: "request-binary", ok: bin.ok, data: view(bin.data) });
  out({ event: "ack", what: "no-responders", ack: await call(s, "request", "svc/nobody", 1) });
  // requests to this client: answered through the acknowledgement callback
  s.on("request", (topic, data, meta, reply) => reply({ answered: topic, doubled: data * 2 }));
  out({ event: "ack", what: "subscribe-ask", ack: await call(s, "subscribe", "ask/#") });
  out({ event: "ready-for-request" });
  await once(s, "message").then(([topic, data]) => out({ event: "message", topic, data: view(data) }));
  out({ event: "ack", what: "unsubscribe", ack: await call(s, "unsubscribe", ["sio/#", "ask/#"]) });
  s.close();
  out({ event: "done" });
}

async function events() {
  // joins through the auth payload, and through the query
  const a = await connect("/plant", { transports: ["websocket"], auth: { join: ["+/temp"] } });
  const b = await connect("/plant", { transports: ["websocket"], query: { join: "+/hum" } });
  const got = [];
  a.onAny((name, data, meta) => got.push({ socket: "a", name, data: view(data), retain: meta.retain }));
  b.onAny((name, data, meta) => got.push({ socket: "b", name, data: view(data), retain: meta.retain }));
  out({ event: "ack", ack: await call(a, "1/temp", 21.5) });
  out({ event: "ack", ack: await call(a, "1/hum", "40 %") });
  a.emit("2/temp", Buffer.from([7, 7]));
  a.emit("3/temp", 1, 2); // several arguments: a JSON array
  out({ event: "ack", ack: await call(a, "bad/#", 1) });
  while (got.length < 4) await new Promise((r) => setTimeout(r, 5));
  for (const g of got) out({ event: "event", ...g });
  a.close();
  b.close();
  out({ event: "done" });
}

async function namespaces() {
  const m = new Manager(url, { transports: ["websocket"], reconnection: false });
  const main = m.socket("/");
  const plant = m.socket("/plant", { auth: { join: "#" } });
  await Promise.all([once(main, "connect"), once(plant, "connect")]);
  out({ event: "connected", both: main.connected && plant.connected, shared: main.io === plant.io, different: main.id !== plant.id });
  const got = once(plant, "1/temp");
  await main.emitWithAck("publish", "plant/1/temp", 19);
  const [data, meta] = await got;
  out({ event: "cross-namespace", data, retain: meta.retain });
  out({ event: "refused", ...(await refused("/nope", { transports: ["websocket"] })) });
  plant.disconnect();
  out({ event: "after-leave", main: main.connected, ack: await main.emitWithAck("publish", "x/y", 1) });
  m._close();
  out({ event: "done" });
}

async function auth(jwt) {
  out({ event: "anonymous", ...(await refused("/")) });
  out({ event: "bad-token", ...(await refused("/", { auth: { token: "not-a-jwt" } })) });
  out({ event: "bad-password", ...(await refused("/", { auth: { username: "alice", password: "nope" } })) });
  const t = await connect("/", { auth: { token: jwt } });
  out({ event: "jwt", connected: t.connected, own: await call(t, "publish", "alice/a", 1), other: await call(t, "publish", "bob/a", 1) });
  t.close();
  const p = await connect("/", { auth: { username: "alice", password: "alice-pw" } });
  out({ event: "password", connected: p.connected, own: await call(p, "subscribe", "alice/#") });
  p.close();
  const q = await connect("/", { query: { token: jwt } });
  out({ event: "query-token", connected: q.connected });
  q.close();
  out({ event: "done" });
}

async function reconnect() {
  const s = io(url, { transports: ["websocket"], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  const ids = [];
  const got = [];
  s.on("message", (topic, data) => got.push(data));
  s.on("connect", () => {
    ids.push(s.id);
    // the usual pattern: (re)subscribe on every connect
    s.emit("subscribe", "re/#", () => s.emit("publish", "re/x", `hello ${ids.length}`));
  });
  const wait = (n) => new Promise((r) => { const c = () => (got.length >= n ? r() : setTimeout(c, 5)); c(); });
  await wait(1);
  const reason = once(s, "disconnect");
  s.io.engine.transport.ws.close(); // the connection drops under the client
  out({ event: "disconnected", reason: (await reason)[0] });
  await wait(2);
  out({ event: "reconnected", ids: ids.length, different: ids[0] !== ids[1], got });
  s.close();
  out({ event: "done" });
}

const scenarios = { control, events, namespaces, auth, reconnect };
if (!scenarios[scenario]) fail(`unknown scenario ${scenario}`);
scenarios[scenario](arg).then(() => process.exit(0), fail);
