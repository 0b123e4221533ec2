// Publishes one message with socket.io-client 4.8 (control mode) and prints the ack.
// Usage: node sio_pub.mjs <url> <topic> <json value> [retain]
import { io } from "socket.io-client";

const [url, topic, json, retain] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
setTimeout(() => {
  out({ event: "failure", why: "timed out" });
  process.exit(1);
}, 20000).unref();

const s = io(url, { transports: ["websocket"], reconnection: false });
s.once("connect_error", (e) => {
  out({ event: "failure", why: e.message });
  process.exit(1);
});
s.once("connect", async () => {
  const ack = await s.timeout(5000).emitWithAck("publish", topic, JSON.parse(json), { retain: retain === "retain", qos: 1 });
  out({ event: "published", ack });
  s.close();
  process.exit(0);
});
