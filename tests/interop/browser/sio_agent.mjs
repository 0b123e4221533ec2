// A Socket.IO client driven line by line: the real socket.io-client 4.8 in control mode, for the
// admin API tests (tests/tests/admin_api/socketio.rs).
// Usage: node sio_agent.mjs '<json options>'   options: {url, name, namespace?, transports?}
//
// Commands on stdin, one JSON object per line:
//   {"cmd":"subscribe","filter":F}          emitWithAck("subscribe", F); reports {"event":"ack"}
//   {"cmd":"exit"}
// Events on stdout, each with "agent": name:
//   {"event":"connected","id":<socket id>,"transport":T}
//   {"event":"ack","cmd":C,"ack":{...}}
//   {"event":"message","topic":T,"data":D,"meta":{...}}
//   {"event":"disconnect","reason":R}      as socket.io-client reports it ("io server disconnect")
//   {"event":"connect_error","message":M}
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const opts = JSON.parse(process.argv[2]);
const out = (o) => console.log(JSON.stringify({ agent: opts.name, ...o }));

const socket = io(opts.url + (opts.namespace || "/"), {
  forceNew: true,
  reconnection: false,
  transports: opts.transports || ["websocket"],
});
socket.on("connect", () => out({ event: "connected", id: socket.id, transport: socket.io.engine.transport.name }));
socket.on("connect_error", (e) => out({ event: "connect_error", message: e.message }));
socket.on("disconnect", (reason) => out({ event: "disconnect", reason }));
socket.on("message", (topic, data, meta) => out({ event: "message", topic, data, meta }));

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  switch (c.cmd) {
    case "subscribe": {
      try {
        out({ event: "ack", cmd: c.cmd, ack: await socket.timeout(5000).emitWithAck("subscribe", c.filter) });
      } catch (e) {
        out({ event: "ack", cmd: c.cmd, error: String(e && e.message ? e.message : e) });
      }
      break;
    }
    case "exit":
      socket.close();
      process.exit(0);
      break;
    default:
      out({ event: "error", message: "unknown command " + c.cmd });
  }
});
lines.on("close", () => process.exit(0));
