// A browser's Engine.IO session driven line by line: the real engine.io-client 6 speaking
// switchboard's control protocol, for the cross-protocol scenarios (tests/tests/interop_cross).
// Usage: node agent.mjs '<json options>'   options: {url, name, token?, transports?}
//
// Commands on stdin, one JSON object per line:
//   {"cmd":"send","frame":{...}}            a control frame (sub, unsub, pub, req, reply, auth)
//   {"cmd":"binary","topic":T,"hex":H}      a binary publish: [u16 topic length][topic][bytes]
//   {"cmd":"answer","prefix":P}             answer every `req` whose topic starts with P with
//                                           {"answeredBy":"browser","topic":T,"got":<payload>}
//   {"cmd":"reject","prefix":P,"reason":R}  reject such requests instead (reply with error R)
//   {"cmd":"stall"}                         stop reading the socket (a frozen tab)
//   {"cmd":"close"} / {"cmd":"open"}         close the session / open a new one
//   {"cmd":"exit"}
// Events on stdout: {"event":"open"|"close"|"frame"|"binary"|"stalled", ...}.
import { Socket } from "engine.io-client";
import { createInterface } from "node:readline";

const opts = JSON.parse(process.argv[2]);
const out = (o) => console.log(JSON.stringify({ agent: opts.name, ...o }));
const rules = []; // {prefix, reason?}
let socket = null;

function payloadOf(frame) {
  if ("data" in frame) return frame.data;
  if ("text" in frame) return frame.text;
  if ("b64" in frame) return { b64: frame.b64 };
  return null;
}

function open() {
  const query = opts.token ? { token: opts.token } : {};
  socket = new Socket(opts.url, { transports: opts.transports || ["websocket"], query, reconnect: false });
  socket.on("open", () => out({ event: "open", transport: socket.transport.name }));
  socket.on("close", (reason) => out({ event: "close", reason }));
  socket.on("error", (e) => out({ event: "error", message: String(e && e.message ? e.message : e) }));
  socket.on("message", (data) => {
    if (typeof data !== "string") {
      const b = Buffer.from(data);
      const len = b.readUInt16BE(0);
      out({ event: "binary", topic: b.subarray(2, 2 + len).toString("utf8"), hex: b.subarray(2 + len).toString("hex") });
      return;
    }
    const frame = JSON.parse(data);
    out({ event: "frame", frame });
    if (frame.op === "req") {
      const rule = rules.find((r) => frame.topic.startsWith(r.prefix));
      if (!rule) return;
      const reply = rule.reason
        ? { op: "reply", rid: frame.rid, error: rule.reason }
        : { op: "reply", rid: frame.rid, data: { answeredBy: "browser", topic: frame.topic, got: payloadOf(frame) } };
      socket.send(JSON.stringify(reply));
    }
  });
}

open();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  switch (c.cmd) {
    case "send":
      socket.send(JSON.stringify(c.frame));
      break;
    case "binary": {
      const t = Buffer.from(c.topic, "utf8");
      const head = Buffer.alloc(2);
      head.writeUInt16BE(t.length);
      socket.send(Buffer.concat([head, t, Buffer.from(c.hex, "hex")]));
      break;
    }
    case "answer":
    case "reject":
      rules.push({ prefix: c.prefix, reason: c.cmd === "reject" ? c.reason || "rejected" : undefined });
      out({ event: "answering", prefix: c.prefix });
      break;
    case "stall":
      // The ws package's socket under engine.io-client's WebSocket transport.
      socket.transport.ws._socket.pause();
      out({ event: "stalled" });
      break;
    case "close":
      socket.close();
      break;
    case "open":
      open();
      break;
    case "exit":
      process.exit(0);
  }
});
lines.on("close", () => process.exit(0));
