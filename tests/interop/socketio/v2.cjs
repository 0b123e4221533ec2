// socket.io-client 2.x (Socket.IO protocol v4 over Engine.IO v3) against switchboard with
// engineio.allow_eio3. Usage: node v2.cjs <url>. Prints one JSON object per line.
"use strict";
const io = require("socket.io-client-v2");

const url = process.argv[2];
const out = (o) => console.log(JSON.stringify(o));
const fail = (why) => {
  out({ event: "failure", why: String(why) });
  process.exit(1);
};
setTimeout(() => fail("timed out"), 20000).unref();

const s = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
s.on("connect_error", fail);
s.on("connect", () => {
  out({ event: "connected", id: s.id });
  s.on("message", (topic, data, meta) => {
    out({ event: "message", topic, data: Buffer.isBuffer(data) ? [...data] : data, retain: meta.retain });
    if (Buffer.isBuffer(data)) {
      const plant = io(url + "/plant", { transports: ["websocket"], reconnection: false, forceNew: true, query: { join: "#" } });
      plant.on("connect", () => {
        out({ event: "plant", id: plant.id });
        plant.on("1/temp", (v) => {
          out({ event: "event", data: v });
          const nope = io(url + "/nope", { transports: ["websocket"], reconnection: false, forceNew: true });
          nope.on("error", (e) => {
            out({ event: "refused", error: e });
            process.exit(0);
          });
        });
        s.emit("publish", "plant/1/temp", 18);
      });
    }
  });
  s.emit("subscribe", "v2/#", (ack) => {
    out({ event: "ack", ack });
    s.emit("publish", "v2/a", { hello: "v2" }, (a) => out({ event: "ack", ack: a }));
    s.emit("publish", "v2/b", Buffer.from([3, 4]));
  });
});
