// The Socket.IO side of the one-ACL scenario: socket.io-client 4.8 signs in as a user of the
// password file and tries what the ACL allows and denies.
// Usage: node sio_acl.mjs <url> <username> <password>. Prints one JSON object per line.
import { io } from "socket.io-client";

const [url, username, password] = process.argv.slice(2);
const out = (o) => console.log(JSON.stringify(o));
setTimeout(() => {
  out({ event: "failure", why: "timed out" });
  process.exit(1);
}, 20000).unref();

const s = io(url, { auth: { username, password }, transports: ["websocket"], reconnection: false });
s.once("connect_error", (e) => {
  out({ event: "failure", why: e.message, data: e.data ?? null });
  process.exit(1);
});
s.once("connect", async () => {
  const call = (...args) => s.timeout(5000).emitWithAck(...args);
  out({ event: "subscribe-denied", ack: await call("subscribe", "plant/secret/#") });
  out({ event: "subscribe-allowed", ack: await call("subscribe", "plant/public/#") });
  out({ event: "publish-denied", ack: await call("publish", "plant/secret/x", "from socket.io") });
  out({ event: "publish-allowed", ack: await call("publish", "plant/public/x", "from socket.io") });
  s.close();
  process.exit(0);
});
