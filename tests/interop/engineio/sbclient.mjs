// The gateway's own client, /switchboard.js, loaded from the gateway and run in Node.
// Usage: node sbclient.mjs <base url> <websocket|polling>
// Node 20 has no global WebSocket: the `ws` package's one is passed in.
import WebSocket from "ws";

const [url, transport] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
const fail = (why) => {
  out({ event: "failure", why: String(why && why.stack ? why.stack : why) });
  process.exit(1);
};
setTimeout(() => fail("scenario timed out"), 20000).unref();

const res = await fetch(url + "/switchboard.js");
out({ event: "served", status: res.status, type: res.headers.get("content-type") });
const source = await res.text();
const { connect, matches } = await import("data:text/javascript;base64," + Buffer.from(source).toString("base64"));

function waitFor(list, pred) {
  return new Promise((resolve) => {
    const check = () => {
      const i = list.findIndex(pred);
      if (i >= 0) return resolve(list.splice(i, 1)[0]);
      setTimeout(check, 5);
    };
    check();
  });
}

try {
  out({ event: "matches", ok: matches("a/+/c", "a/b/c") && matches("a/#", "a") && !matches("+/x", "$SYS/x") });
  const sb = connect(url, { WebSocket, transports: [transport], backoffMin: 50, backoffMax: 200 });
  const opened = [];
  sb.on("open", (info) => opened.push(info));
  await sb.ready();
  out({ event: "open", transport: opened[0].transport });

  const got = [];
  await sb.subscribe("state/#", (data, meta) => got.push({ data, meta }));
  const retained = await waitFor(got, (m) => m.meta.topic === "state/lamp");
  out({ event: "retained", data: retained.data, retain: retained.meta.retain });

  await sb.publish("state/echo", { n: 1 });
  const own = await waitFor(got, (m) => m.meta.topic === "state/echo");
  out({ event: "own", data: own.data });

  await sb.publish("state/bin", new Uint8Array([1, 2, 3]));
  const bin = await waitFor(got, (m) => m.meta.topic === "state/bin");
  out({ event: "binary", data: [...bin.data], binary: !!bin.meta.binary });

  const answer = await sb.request("svc/upper", "shout", 3000);
  out({ event: "response", data: answer });
  try {
    await sb.request("svc/nobody", null, 500);
    out({ event: "unexpected" });
  } catch (e) {
    out({ event: "request-error", code: e.code });
  }

  // answer a request from the gateway side
  await sb.subscribe("browser/ask", (data, meta) => meta.reply({ seen: data }));
  out({ event: "serving" });
  // the test asks, then publishes state/go
  await waitFor(got, (m) => m.meta.topic === "state/go");

  // lose the connection: the client reconnects and subscribes again
  sb.socket.fail(new Error("simulated network loss"));
  while (!sb.connected) await new Promise((r) => setTimeout(r, 10));
  out({ event: "reconnected", transport: sb.transport });
  await sb.publish("state/after", "back", { text: true });
  const after = await waitFor(got, (m) => m.meta.topic === "state/after");
  out({ event: "after-reconnect", data: after.data });
  sb.close();
  out({ event: "done" });
  process.exit(0);
} catch (e) {
  fail(e);
}
