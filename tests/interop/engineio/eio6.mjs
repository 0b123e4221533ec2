// engine.io-client 6.x against switchboard in raw echo mode.
// Usage: node eio6.mjs <base url> <scenario> [text size] [binary size]
// Scenarios: polling | websocket | upgrade | large-polling | large-websocket | reconnect |
// deflate | deflate-upgrade (permessage-deflate, as engine.io-client offers it by default).
// Prints one JSON object per line; exits 0 when the scenario ran to its end.
import { Socket } from "engine.io-client";

const [url, scenario, sizeArg, binSizeArg] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const fail = (why) => {
  out({ event: "failure", why: String(why) });
  process.exit(1);
};
setTimeout(() => fail("scenario timed out"), 20000).unref();

function open(transports, upgrade = true) {
  return new Promise((resolve, reject) => {
    const socket = new Socket(url, { transports, upgrade });
    socket.on("open", () => resolve(socket));
    socket.on("error", reject);
  });
}

function nextMessage(socket) {
  return new Promise((resolve) => socket.once("message", resolve));
}

async function echo(socket, data) {
  const got = nextMessage(socket);
  socket.send(data);
  return got;
}

function describe(data) {
  if (typeof data === "string") return { type: "text", length: data.length, head: data.slice(0, 20) };
  const bytes = Buffer.from(data);
  return { type: "binary", length: bytes.length, head: [...bytes.subarray(0, 8)] };
}

async function basic(transports, upgrade) {
  const socket = await open(transports, upgrade);
  out({ event: "open", transport: socket.transport.name, sid: socket.id });
  if (upgrade) {
    if (socket.transport.name !== "websocket") {
      await new Promise((resolve) => socket.once("upgrade", resolve));
    }
    out({ event: "upgraded", transport: socket.transport.name });
  }
  out({ event: "echo", ...describe(await echo(socket, "hello €")) });
  out({ event: "echo", ...describe(await echo(socket, Buffer.from([1, 2, 3, 255]))) });
  // a burst keeps its order
  const received = [];
  const all = new Promise((resolve) => {
    socket.on("message", (m) => {
      received.push(m);
      if (received.length === 100) resolve();
    });
  });
  for (let i = 0; i < 100; i++) socket.send("m" + i);
  await all;
  out({ event: "burst", ordered: received.every((m, i) => m === "m" + i), count: received.length });
  const closed = new Promise((resolve) => socket.once("close", (reason) => resolve(reason)));
  socket.close();
  out({ event: "close", reason: await closed });
}

async function large(transports) {
  const size = Number(sizeArg);
  const socket = await open(transports, false);
  out({ event: "open", transport: socket.transport.name });
  const text = "x".repeat(size);
  out({ event: "echo", ...describe(await echo(socket, text)) });
  const bin = Buffer.alloc(Number(binSizeArg || sizeArg), 7);
  out({ event: "echo", ...describe(await echo(socket, bin)) });
  socket.close();
}

// Echoes compressible messages over a WebSocket and reports what was negotiated and how many
// bytes crossed the wire, so the test can tell compressed frames were used both ways.
async function deflate(transports) {
  const socket = await open(transports, transports.length > 1);
  if (socket.transport.name !== "websocket") {
    await new Promise((resolve) => socket.once("upgrade", resolve));
  }
  const ws = socket.transport.ws;
  const tcp = ws._socket;
  const before = { read: tcp.bytesRead, written: tcp.bytesWritten };
  const text = JSON.stringify(
    Array.from({ length: 2000 }, (_, i) => ({ id: i, topic: "plant/1/temp", value: 21.5 })),
  );
  const bin = Buffer.alloc(100000, 7);
  const got = await echo(socket, text);
  out({ event: "echo", ...describe(got), same: got === text });
  const back = Buffer.from(await echo(socket, bin));
  out({ event: "echo", ...describe(back), same: back.equals(bin) });
  out({ event: "echo", ...describe(await echo(socket, "small")) });
  out({
    event: "wire",
    extensions: ws.extensions,
    payload: text.length + bin.length + "small".length,
    read: tcp.bytesRead - before.read,
    written: tcp.bytesWritten - before.written,
  });
  socket.close();
}

async function reconnect() {
  const first = await open(["websocket"]);
  const sid1 = first.id;
  const closed = new Promise((resolve) => first.once("close", resolve));
  first.close();
  await closed;
  const second = await open(["polling", "websocket"]);
  out({ event: "reopened", different: second.id !== sid1 });
  out({ event: "echo", ...describe(await echo(second, "again")) });
  second.close();
}

try {
  switch (scenario) {
    case "polling":
      await basic(["polling"], false);
      break;
    case "websocket":
      await basic(["websocket"], false);
      break;
    case "upgrade":
      await basic(["polling", "websocket"], true);
      break;
    case "large-polling":
      await large(["polling"]);
      break;
    case "large-websocket":
      await large(["websocket"]);
      break;
    case "reconnect":
      await reconnect();
      break;
    case "deflate":
      await deflate(["websocket"]);
      break;
    case "deflate-upgrade":
      await deflate(["polling", "websocket"]);
      break;
    default:
      fail("unknown scenario " + scenario);
  }
  out({ event: "done" });
  process.exit(0);
} catch (e) {
  fail(e && e.stack ? e.stack : e);
}
