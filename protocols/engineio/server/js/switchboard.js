// switchboard.js: the browser (and Node) client of the switchboard gateway.
//
// A dependency-free ES module. It speaks Engine.IO protocol v4 (WebSocket, with HTTP
// long-polling as the fallback) and switchboard's JSON control protocol on top:
//
//   import { connect } from "/switchboard.js";
//   const sb = connect("", { token: "..." });            // "" = this page's origin
//   const off = await sb.subscribe("plant/+/temp", (data, meta) => console.log(meta.topic, data));
//   await sb.publish("plant/1/cmd", { on: true }, { retain: false });
//   const answer = await sb.request("svc/time", null, 2000);
//
// It reconnects with exponential backoff and subscribes again to every filter.
// Options: path ("/engine.io/"), token (or username and password), transports (["websocket", "polling"]),
// reconnect (true), backoffMin (250 ms), backoffMax (10 000 ms), WebSocket and fetch
// implementations (default: the globals; give Node 20 the `ws` package's WebSocket).

const SEP = "\x1e";

function b64encode(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

function b64decode(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** Whether MQTT-style `filter` (with `+` and `#`) matches `topic`. */
export function matches(filter, topic) {
  const f = filter.split("/");
  const t = topic.split("/");
  if (t[0].startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length) return false;
    if (f[i] !== "+" && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Decodes the payload fields of a gateway frame: data (JSON), text, or b64 (bytes). */
function payloadOf(frame) {
  if ("data" in frame) return frame.data;
  if ("text" in frame) return frame.text;
  if ("b64" in frame) return b64decode(frame.b64);
  return null;
}

/** Adds the payload of `data` to an outgoing frame. */
function withPayload(frame, data, opts = {}) {
  const bytes = toBytes(data);
  if (bytes) frame.b64 = b64encode(bytes);
  else if (opts.text || typeof data === "string") frame.text = String(data);
  else frame.data = data === undefined ? null : data;
  return frame;
}

class Emitter {
  constructor() {
    this.listeners = new Map();
  }
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event)?.delete(fn);
  }
  emit(event, ...args) {
    for (const fn of this.listeners.get(event) || []) {
      try {
        fn(...args);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }
}

/** One Engine.IO v4 connection over WebSocket or long-polling. */
class EngineSocket extends Emitter {
  constructor(base, opts, transport) {
    super();
    this.base = base;
    this.opts = opts;
    this.transport = transport;
    this.state = "opening";
    this.outbox = [];
    this.posting = false;
    this.heartbeat = null;
  }

  url(transport, extra = "") {
    let u = this.base + this.opts.path + "?EIO=4&transport=" + transport + extra;
    if (this.opts.token) u += "&token=" + encodeURIComponent(this.opts.token);
    return u;
  }

  open() {
    if (this.transport === "websocket") this.openWebSocket();
    else this.openPolling();
  }

  openWebSocket() {
    const WS = this.opts.WebSocket || globalThis.WebSocket;
    if (!WS) {
      this.fail(new Error("no WebSocket implementation"));
      return;
    }
    const url = this.url("websocket").replace(/^http/, "ws");
    let ws;
    try {
      ws = new WS(url);
    } catch (e) {
      this.fail(e);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (ev) => {
      if (typeof ev.data === "string") this.onPacket(ev.data);
      else this.emit("message", toBytes(ev.data));
    };
    ws.onclose = () => this.fail(new Error("WebSocket closed"));
    ws.onerror = () => this.fail(new Error("WebSocket error"));
  }

  async openPolling() {
    try {
      const packets = await this.get(this.url("polling", "&t=" + Date.now().toString(36)));
      for (const p of packets) this.onPacket(p);
      if (this.state === "open") this.pollLoop();
    } catch (e) {
      this.fail(e);
    }
  }

  async get(url) {
    const f = this.opts.fetch || globalThis.fetch;
    const res = await f(url, { credentials: "include" });
    const body = await res.text();
    if (!res.ok) throw new Error("HTTP " + res.status + ": " + body);
    return body.split(SEP);
  }

  async pollLoop() {
    while (this.state === "open") {
      try {
        const packets = await this.get(this.url("polling", "&sid=" + this.sid + "&t=" + Date.now().toString(36)));
        for (const p of packets) this.onPacket(p);
      } catch (e) {
        this.fail(e);
        return;
      }
    }
  }

  async flushPosts() {
    if (this.posting || this.outbox.length === 0 || this.state !== "open") return;
    this.posting = true;
    const batch = this.outbox.splice(0, this.outbox.length);
    const f = this.opts.fetch || globalThis.fetch;
    try {
      const res = await f(this.url("polling", "&sid=" + this.sid), {
        method: "POST",
        body: batch.join(SEP),
        headers: { "content-type": "text/plain;charset=UTF-8" },
        credentials: "include",
      });
      if (!res.ok) throw new Error("HTTP " + res.status);
      await res.text();
    } catch (e) {
      this.posting = false;
      this.fail(e);
      return;
    }
    this.posting = false;
    this.flushPosts();
  }

  onPacket(p) {
    if (p.length === 0) return;
    const type = p[0];
    if (type === "0") {
      const hs = JSON.parse(p.slice(1));
      this.sid = hs.sid;
      this.pingTimeout = hs.pingInterval + hs.pingTimeout;
      this.state = "open";
      this.armHeartbeat();
      this.emit("open");
    } else if (type === "2") {
      this.armHeartbeat();
      this.sendRaw("3");
    } else if (type === "4") {
      this.emit("message", p.slice(1));
    } else if (type === "b") {
      this.emit("message", b64decode(p.slice(1)));
    } else if (type === "1") {
      this.fail(new Error("closed by the server"));
    }
  }

  armHeartbeat() {
    clearTimeout(this.heartbeat);
    this.heartbeat = setTimeout(() => this.fail(new Error("ping timeout")), this.pingTimeout);
  }

  sendRaw(packet) {
    if (this.transport === "websocket") {
      if (this.ws && this.ws.readyState === 1) this.ws.send(packet);
    } else {
      this.outbox.push(typeof packet === "string" ? packet : "b" + b64encode(packet));
      this.flushPosts();
    }
  }

  /** Sends a text message (string) or a binary one (Uint8Array). */
  send(msg) {
    if (typeof msg === "string") this.sendRaw("4" + msg);
    else this.sendRaw(msg);
  }

  fail(err) {
    if (this.state === "closed") return;
    const wasOpen = this.state === "open";
    this.state = "closed";
    clearTimeout(this.heartbeat);
    if (this.ws) {
      this.ws.onclose = this.ws.onerror = this.ws.onmessage = null;
      try {
        this.ws.close();
      } catch (_) {
        // already closed
      }
    }
    this.emit("close", err, wasOpen);
  }

  close() {
    if (this.transport === "polling" && this.state === "open") this.sendRaw("1");
    this.fail(new Error("closed by the client"));
  }
}

/** A switchboard connection: subscribe, publish, request; reconnects by itself. */
export class Switchboard extends Emitter {
  constructor(url = "", options = {}) {
    super();
    if (!url && globalThis.location) url = globalThis.location.origin;
    this.base = url.replace(/\/$/, "");
    this.opts = {
      path: "/engine.io/",
      transports: ["websocket", "polling"],
      reconnect: true,
      backoffMin: 250,
      backoffMax: 10000,
      ...options,
    };
    this.subs = new Map();
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.closed = false;
    this.socket = null;
    this.connected = false;
    this.waiters = [];
  }

  /** Connects (resolves once the first session is open). */
  connect() {
    if (!this.socket) this.open(0);
    return this.ready();
  }

  ready() {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  open(transportIndex) {
    const transports = this.opts.transports;
    const transport = transports[transportIndex] || transports[0];
    const s = new EngineSocket(this.base, this.opts, transport);
    this.socket = s;
    s.on("open", () => this.onOpen(s));
    s.on("message", (m) => this.onMessage(m));
    s.on("close", (err, wasOpen) => this.onClose(s, err, wasOpen, transportIndex));
    s.open();
  }

  onOpen(s) {
    this.attempt = 0;
    this.connected = true;
    this.transport = s.transport;
    // Credentials given as {username, password} are sent again on every new session, before
    // the subscriptions (a token travels in the URL instead).
    if (this.opts.username !== undefined) {
      s.send(JSON.stringify({ op: "auth", username: this.opts.username, password: this.opts.password }));
    }
    for (const filter of this.subs.keys()) {
      s.send(JSON.stringify({ op: "sub", topic: filter }));
    }
    // Subscriptions in flight when the connection was lost are the ones just sent again.
    for (const [id, p] of this.pending) {
      if (p.op === "sub" && p.sent) {
        this.pending.delete(id);
        p.resolve();
      }
    }
    this.emit("open", { sid: s.sid, transport: s.transport });
    for (const w of this.waiters.splice(0)) w();
  }

  onClose(s, err, wasOpen, transportIndex) {
    if (s !== this.socket) return;
    this.connected = false;
    for (const [id, p] of this.pending) {
      if (p.op === "sub" || !p.sent) continue;
      clearTimeout(p.timer);
      p.reject(Object.assign(new Error("connection lost"), { code: "closed" }));
      this.pending.delete(id);
    }
    this.emit("close", err);
    if (this.closed || !this.opts.reconnect) return;
    // A transport that never opened: try the next one at once.
    if (!wasOpen && transportIndex + 1 < this.opts.transports.length) {
      this.open(transportIndex + 1);
      return;
    }
    const delay = Math.min(this.opts.backoffMax, this.opts.backoffMin * 2 ** this.attempt);
    this.attempt++;
    const jittered = delay / 2 + Math.random() * (delay / 2);
    this.emit("reconnecting", { attempt: this.attempt, delay: jittered });
    setTimeout(() => {
      if (!this.closed) this.open(0);
    }, jittered);
  }

  onMessage(m) {
    if (typeof m !== "string") return this.onBinary(m);
    let frame;
    try {
      frame = JSON.parse(m);
    } catch (_) {
      this.emit("error", new Error("unparsable frame: " + m));
      return;
    }
    switch (frame.op) {
      case "msg":
        this.dispatch(frame.topic, payloadOf(frame), { topic: frame.topic, retain: !!frame.retain });
        break;
      case "req":
        this.dispatch(frame.topic, payloadOf(frame), {
          topic: frame.topic,
          retain: false,
          request: true,
          reply: (data, opts) => this.socket.send(JSON.stringify(withPayload({ op: "reply", rid: frame.rid }, data, opts))),
          reject: (reason) => this.socket.send(JSON.stringify({ op: "reply", rid: frame.rid, error: String(reason) })),
        });
        break;
      case "ack":
      case "res":
      case "err": {
        const p = this.pending.get(frame.id);
        if (!p) {
          if (frame.op === "err") this.emit("error", Object.assign(new Error(frame.message), { code: frame.code }));
          return;
        }
        this.pending.delete(frame.id);
        clearTimeout(p.timer);
        if (frame.op === "err") p.reject(Object.assign(new Error(frame.message), { code: frame.code }));
        else p.resolve(frame.op === "res" ? payloadOf(frame) : undefined);
        break;
      }
      default:
        this.emit("error", new Error("unknown frame: " + m));
    }
  }

  onBinary(bytes) {
    if (bytes.length < 2) return;
    const len = (bytes[0] << 8) | bytes[1];
    const topic = new TextDecoder().decode(bytes.subarray(2, 2 + len));
    this.dispatch(topic, bytes.subarray(2 + len), { topic, retain: false, binary: true });
  }

  dispatch(topic, data, meta) {
    for (const [filter, handlers] of this.subs) {
      if (!matches(filter, topic)) continue;
      for (const h of handlers) {
        try {
          h(data, meta);
        } catch (e) {
          setTimeout(() => {
            throw e;
          });
        }
      }
    }
  }

  /** Sends `frame` with a fresh id; resolves with the ack or `res`, rejects on `err`. */
  call(frame, timeoutMs) {
    const id = this.nextId++;
    frame.id = id;
    return new Promise((resolve, reject) => {
      const p = { resolve, reject, op: frame.op, timer: null };
      if (timeoutMs) {
        p.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(Object.assign(new Error("no answer within " + timeoutMs + " ms"), { code: "timeout" }));
        }, timeoutMs + 1000);
      }
      this.pending.set(id, p);
      this.ready().then(() => {
        p.sent = true;
        this.socket.send(JSON.stringify(frame));
      });
    });
  }

  /** Subscribes `handler(data, meta)` to `filter`; resolves with a function that unsubscribes. */
  async subscribe(filter, handler) {
    let handlers = this.subs.get(filter);
    const first = !handlers;
    if (first) {
      handlers = new Set();
      this.subs.set(filter, handlers);
    }
    handlers.add(handler);
    if (first) {
      try {
        await this.call({ op: "sub", topic: filter });
      } catch (e) {
        this.subs.delete(filter);
        throw e;
      }
    }
    return () => this.unsubscribe(filter, handler);
  }

  /** Removes `handler` (or every handler) of `filter`. */
  async unsubscribe(filter, handler) {
    const handlers = this.subs.get(filter);
    if (!handlers) return;
    if (handler) handlers.delete(handler);
    if (handler && handlers.size > 0) return;
    this.subs.delete(filter);
    await this.call({ op: "unsub", topic: filter });
  }

  /** Publishes `data` (JSON value, string with {text:true}, or bytes) on `topic`. */
  publish(topic, data, opts = {}) {
    const bytes = toBytes(data);
    if (bytes && !opts.retain) {
      const t = new TextEncoder().encode(topic);
      const frame = new Uint8Array(2 + t.length + bytes.length);
      frame[0] = t.length >> 8;
      frame[1] = t.length & 0xff;
      frame.set(t, 2);
      frame.set(bytes, 2 + t.length);
      return this.ready().then(() => this.socket.send(frame));
    }
    const frame = withPayload({ op: "pub", topic, retain: !!opts.retain, qos: opts.qos || 0 }, data, opts);
    return this.call(frame);
  }

  /** Sends a request on `topic`; resolves with the first reply's payload. */
  request(topic, data, timeoutMs = 5000) {
    return this.call(withPayload({ op: "req", topic, timeout_ms: timeoutMs }, data), timeoutMs);
  }

  /** Authenticates the session with a token (or `{username, password}`); reconnections
   * authenticate again with the same credentials. */
  auth(token) {
    const frame = typeof token === "string" ? { op: "auth", token } : { op: "auth", ...token };
    return this.call(frame).then(() => {
      if (typeof token === "string") {
        this.opts.token = token;
      } else {
        this.opts.username = token.username;
        this.opts.password = token.password;
      }
    });
  }

  /** Closes the connection for good. */
  close() {
    this.closed = true;
    if (this.socket) this.socket.close();
  }
}

/** Creates a client and starts connecting. */
export function connect(url = "", options = {}) {
  const sb = new Switchboard(url, options);
  sb.connect();
  return sb;
}

export default connect;
