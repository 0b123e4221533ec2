// engine.io-client 3.x (protocol v3) against switchboard with allow_eio3, raw echo mode.
// Usage: node eio3.cjs <base url> <polling|websocket|upgrade>
const eio = require("engine.io-client-v3");

const [url, scenario] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const fail = (why) => {
  out({ event: "failure", why: String(why) });
  process.exit(1);
};
setTimeout(() => fail("scenario timed out"), 20000).unref();

const transports = scenario === "websocket" ? ["websocket"] : scenario === "polling" ? ["polling"] : ["polling", "websocket"];
const socket = eio(url, { transports, upgrade: scenario === "upgrade" });
const messages = [];
let waiting = null;
socket.on("message", (m) => {
  messages.push(m);
  if (waiting) waiting();
});
const next = () =>
  new Promise((resolve) => {
    if (messages.length) return resolve(messages.shift());
    waiting = () => {
      waiting = null;
      resolve(messages.shift());
    };
  });
socket.on("error", (e) => fail(e));
socket.on("open", async () => {
  out({ event: "open", transport: socket.transport.name });
  if (scenario === "upgrade" && socket.transport.name !== "websocket") {
    await new Promise((resolve) => socket.once("upgrade", resolve));
    out({ event: "upgraded", transport: socket.transport.name });
  }
  socket.send("hello v3");
  const text = await next();
  out({ event: "echo", type: typeof text, value: text });
  socket.send(Buffer.from([9, 8, 7]));
  const bin = await next();
  out({ event: "echo", type: typeof bin, value: [...Buffer.from(bin)] });
  // wait for one client ping/pong round trip (pingInterval is short in the test)
  await new Promise((resolve) => socket.once("pong", resolve));
  out({ event: "heartbeat" });
  socket.on("close", (reason) => {
    out({ event: "close", reason });
    out({ event: "done" });
    process.exit(0);
  });
  socket.close();
});
