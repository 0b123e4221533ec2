"""paho-mqtt (Eclipse Paho Python, MQTT 3.1.1 and 5.0) against switchboard.

Usage: paho_scenarios.py HOST PORT SCENARIO [VERSION] [EXTRA]
VERSION is 3 (MQTT 3.1.1, default) or 5. Prints one JSON object per line; the Rust test asserts
on them. Exit code 0 when the scenario ran to its end (its assertions are in the Rust test).
"""

import json
import queue
import socket
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = sys.argv[1]
PORT = int(sys.argv[2])
SCENARIO = sys.argv[3]
VERSION = int(sys.argv[4]) if len(sys.argv) > 4 else 3
EXTRA = sys.argv[5] if len(sys.argv) > 5 else ""
PROTO = mqtt.MQTTv5 if VERSION == 5 else mqtt.MQTTv311
WAIT = 10


def emit(event, **fields):
    fields["event"] = event
    print(json.dumps(fields), flush=True)


class Peer:
    """A paho client with its messages and acknowledgements collected in queues."""

    def __init__(self, client_id, clean=True, version=None, transport="tcp", **kw):
        proto = version or PROTO
        args = dict(client_id=client_id, protocol=proto, transport=transport)
        if proto != mqtt.MQTTv5:
            args["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **args)
        self.v5 = proto == mqtt.MQTTv5
        self.clean = clean
        self.messages = queue.Queue()
        self.connack = queue.Queue()
        self.subacks = queue.Queue()
        self.published = queue.Queue()
        self.disconnects = queue.Queue()
        self.client.on_connect = lambda c, u, flags, rc, props: self.connack.put((flags, rc, props))
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put(rcs)
        self.client.on_publish = lambda c, u, mid, rc, props: self.published.put((mid, rc))
        self.client.on_disconnect = lambda c, u, flags, rc, props: self.disconnects.put(rc)
        for k, v in kw.items():
            setattr(self.client, k, v)

    def connect(self, keepalive=60, props=None, session_expiry=None, path=None):
        if path:
            self.client.ws_set_options(path=path)
        if self.v5:
            p = props or Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                p.SessionExpiryInterval = session_expiry
            self.client.connect(HOST, PORT, keepalive, clean_start=self.clean, properties=p)
        else:
            self.client.connect(HOST, PORT, keepalive)
        self.client.loop_start()
        flags, rc, props = self.connack.get(timeout=WAIT)
        return flags, rc, props

    def sub(self, topic, qos=0, options=None, props=None):
        if self.v5:
            opts = options or SubscribeOptions(qos=qos)
            self.client.subscribe(topic, options=opts, properties=props)
        else:
            self.client.subscribe(topic, qos)
        return self.subacks.get(timeout=WAIT)

    def pub(self, topic, payload, qos=0, retain=False, props=None):
        info = self.client.publish(topic, payload, qos, retain, properties=props)
        if qos > 0:
            info.wait_for_publish(WAIT)
        return info

    def recv(self, timeout=WAIT):
        return self.messages.get(timeout=timeout)

    def drain(self, timeout=0.5):
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=timeout))
            except queue.Empty:
                return out

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def kill(self):
        """Drops the TCP connection without DISCONNECT (the will fires)."""
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def msg_json(m):
    out = {
        "topic": m.topic,
        "payload": m.payload.decode("utf-8", "replace"),
        "qos": m.qos,
        "retain": bool(m.retain),
    }
    p = getattr(m, "properties", None)
    if p is not None:
        for name in (
            "PayloadFormatIndicator",
            "MessageExpiryInterval",
            "ContentType",
            "ResponseTopic",
            "SubscriptionIdentifier",
            "UserProperty",
        ):
            if hasattr(p, name):
                out[name] = getattr(p, name)
        if hasattr(p, "CorrelationData"):
            out["CorrelationData"] = p.CorrelationData.decode("utf-8", "replace")
    return out


def rc_value(rc):
    return rc.value if hasattr(rc, "value") else int(rc)


def scenario_pubsub():
    sub = Peer("paho-sub")
    sub.connect()
    codes = sub.sub("paho/#", 2)
    emit("suback", codes=[rc_value(c) for c in codes])
    pub = Peer("paho-pub")
    pub.connect()
    for qos in (0, 1, 2):
        pub.pub(f"paho/q{qos}", f"m{qos}".encode(), qos)
    got = sorted((msg_json(sub.recv()) for _ in range(3)), key=lambda m: m["topic"])
    emit("received", messages=got)
    sub.stop()
    pub.stop()


def scenario_retained():
    pub = Peer("paho-ret-pub")
    pub.connect()
    pub.pub("paho/retained/a", b"kept", 1, retain=True)
    sub = Peer("paho-ret-sub")
    sub.connect()
    sub.sub("paho/retained/#", 1)
    emit("received", messages=[msg_json(sub.recv())])
    pub.pub("paho/retained/a", b"", 1, retain=True)
    sub.recv()
    late = Peer("paho-ret-late")
    late.connect()
    late.sub("paho/retained/#", 1)
    emit("after_delete", messages=[msg_json(m) for m in late.drain()])
    for p in (pub, sub, late):
        p.stop()


def scenario_will():
    watch = Peer("paho-will-watch")
    watch.connect()
    watch.sub("paho/will/#", 1)
    dying = Peer("paho-will-dying")
    dying.client.will_set("paho/will/dying", b"bye", 1, False)
    keepalive = int(EXTRA or "60")
    dying.connect(keepalive=keepalive)
    emit("connected")
    if keepalive < 60:
        # Stop talking but keep the socket open: only the keep-alive timeout can end it.
        dying.client.loop_stop()
    else:
        dying.kill()
    start = time.monotonic()
    m = watch.recv(timeout=WAIT)
    emit("will", after=round(time.monotonic() - start, 2), **msg_json(m))
    polite = Peer("paho-will-polite")
    polite.client.will_set("paho/will/polite", b"bye", 1, False)
    polite.connect()
    polite.stop()
    emit("after_disconnect", messages=[msg_json(m) for m in watch.drain(1.0)])
    watch.stop()


def scenario_session():
    c = Peer("paho-persist", clean=False)
    if c.v5:
        flags, _, _ = c.connect(session_expiry=300)
    else:
        flags, _, _ = c.connect()
    c.sub("paho/session/#", 1)
    c.stop()
    pub = Peer("paho-session-pub")
    pub.connect()
    for i in range(3):
        pub.pub(f"paho/session/{i}", f"queued {i}".encode(), 1)
    pub.stop()
    c2 = Peer("paho-persist", clean=False)
    if c2.v5:
        flags, _, _ = c2.connect(session_expiry=300)
    else:
        flags, _, _ = c2.connect()
    present = flags.session_present if hasattr(flags, "session_present") else flags["session present"]
    got = sorted((msg_json(c2.recv())["payload"] for _ in range(3)))
    emit("resumed", session_present=bool(present), payloads=got)
    c2.stop()


def scenario_v5props():
    sub = Peer("paho-props-sub", version=mqtt.MQTTv5)
    sub.connect()
    sp = Properties(PacketTypes.SUBSCRIBE)
    sp.SubscriptionIdentifier = 42
    sub.sub("paho/props/#", 1, props=sp)
    pub = Peer("paho-props-pub", version=mqtt.MQTTv5)
    pub.connect()
    p = Properties(PacketTypes.PUBLISH)
    p.PayloadFormatIndicator = 1
    p.MessageExpiryInterval = 3600
    p.ContentType = "application/json"
    p.ResponseTopic = "paho/props/reply"
    p.CorrelationData = b"corr-7"
    p.UserProperty = [("k1", "v1"), ("k2", "v2"), ("k1", "v3")]
    pub.pub("paho/props/x", b'{"temp": 21.5}', 1, props=p)
    emit("received", **msg_json(sub.recv()))
    sub.stop()
    pub.stop()


def scenario_responder():
    """Answers one request on paho/svc with the correlation data echoed."""
    r = Peer("paho-responder", version=mqtt.MQTTv5)
    r.connect()
    r.sub("paho/svc", 1)
    emit("ready")
    req = r.recv(timeout=WAIT)
    rp = Properties(PacketTypes.PUBLISH)
    rp.CorrelationData = req.properties.CorrelationData
    r.pub(req.properties.ResponseTopic, b"answer:" + req.payload, 1, props=rp)
    emit("answered", request=msg_json(req))
    r.stop()


def scenario_requester():
    """Sends a request to paho/ask with a response topic and waits for the reply."""
    q = Peer("paho-requester", version=mqtt.MQTTv5)
    q.connect()
    q.sub("paho/answers", 1)
    p = Properties(PacketTypes.PUBLISH)
    p.ResponseTopic = "paho/answers"
    p.CorrelationData = b"q-1"
    q.pub("paho/ask", b"question", 1, props=p)
    emit("reply", **msg_json(q.recv()))
    q.stop()


def scenario_shared():
    workers = [Peer(f"paho-worker-{i}", version=mqtt.MQTTv5) for i in range(2)]
    for w in workers:
        w.connect()
        w.sub("$share/grp/paho/jobs", 1)
    pub = Peer("paho-jobs", version=mqtt.MQTTv5)
    pub.connect()
    for i in range(10):
        pub.pub("paho/jobs", str(i).encode(), 1)
    counts = [len(w.drain(1.0)) for w in workers]
    emit("shared", counts=counts)
    for w in workers:
        w.stop()
    pub.stop()


def scenario_options():
    """No local, retain as published, retain handling."""
    pub = Peer("paho-opt-pub", version=mqtt.MQTTv5)
    pub.connect()
    pub.pub("paho/opt/r", b"old", 1, retain=True)
    c = Peer("paho-opt", version=mqtt.MQTTv5)
    c.connect()
    c.sub("paho/opt/#", options=SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2))
    c.pub("paho/opt/own", b"mine", 1)
    pub.pub("paho/opt/live", b"live", 1, retain=True)
    emit("options", messages=[msg_json(m) for m in c.drain(1.0)])
    pub.pub("paho/opt/r", b"", 1, retain=True)
    pub.pub("paho/opt/live", b"", 1, retain=True)
    c.stop()
    pub.stop()


def scenario_denied():
    """Subscribe, publish and read where the ACL says no (user:password in EXTRA)."""
    user, password = EXTRA.split(":", 1)
    c = Peer("paho-acl")
    c.client.username_pw_set(user, password)
    _, rc, _ = c.connect()
    emit("connack", rc=rc_value(rc))
    emit("suback_secret", codes=[rc_value(x) for x in c.sub("secret/#", 1)])
    emit("suback_readonly", codes=[rc_value(x) for x in c.sub("readonly/#", 1)])
    c.pub("readonly/x", b"not allowed", 1)
    mid, prc = c.published.get(timeout=WAIT)
    emit("puback", rc=rc_value(prc))
    c.pub("mine/x", b"allowed", 1)
    c.published.get(timeout=WAIT)
    emit("received", messages=[msg_json(m) for m in c.drain(1.0)])
    c.stop()
    bad = Peer("paho-bad")
    bad.client.username_pw_set(user, "wrong-password")
    bad.client.connect(HOST, PORT, 60)
    bad.client.loop_start()
    _, rc, _ = bad.connack.get(timeout=WAIT)
    emit("bad_connack", rc=rc_value(rc))
    bad.client.loop_stop()
    anon = Peer("paho-anon")
    anon.client.connect(HOST, PORT, 60)
    anon.client.loop_start()
    _, rc, _ = anon.connack.get(timeout=WAIT)
    emit("anonymous_connack", rc=rc_value(rc))
    anon.client.loop_stop()


def scenario_tls():
    """MQTT over TLS with a client certificate (EXTRA: ca|cert|key)."""
    import ssl

    ca, cert, key = EXTRA.split("|")
    c = Peer("paho-tls")
    c.client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    _, rc, _ = c.connect()
    emit("connack", rc=rc_value(rc))
    c.sub("dev/#", 1)
    c.pub("dev/x", b"over tls", 1)
    emit("received", **msg_json(c.recv()))
    c.stop()
    anon = Peer("paho-tls-nocert")
    anon.client.tls_set(ca_certs=ca)
    try:
        anon.client.connect(HOST, PORT, 60)
        anon.client.loop_start()
        _, rc, _ = anon.connack.get(timeout=3)
        emit("no_certificate", refused=False, rc=rc_value(rc))
    except (ssl.SSLError, OSError, queue.Empty) as e:
        emit("no_certificate", refused=True, error=type(e).__name__)
    finally:
        anon.client.loop_stop()


def scenario_qos2_reconnect():
    """QoS 2 across a reconnect: the PUBREC is never read, the connection drops, paho re-sends the
    PUBLISH with DUP on the resumed session and completes the flow."""
    c = Peer("paho-exactly-once", clean=False)
    if c.v5:
        c.connect(session_expiry=300)
    else:
        c.connect()
    c.client.loop_stop()
    info = c.client.publish("paho/eo/x", b"exactly once", 2)
    # Give the PUBLISH time to reach the broker; its PUBREC stays unread.
    time.sleep(0.5)
    sock = c.client.socket()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    time.sleep(0.2)
    c.client.reconnect()
    c.client.loop_start()
    flags, _, _ = c.connack.get(timeout=WAIT)
    present = flags.session_present if hasattr(flags, "session_present") else flags["session present"]
    info.wait_for_publish(WAIT)
    emit("completed", published=info.is_published(), session_present=bool(present))
    c.stop()


def scenario_v5misc():
    """Assigned client id and CONNACK limits, takeover (0x8E), unsubscribe."""
    a = Peer("", version=mqtt.MQTTv5)
    _, rc, props = a.connect()
    emit(
        "connack",
        rc=rc_value(rc),
        assigned=getattr(props, "AssignedClientIdentifier", None),
        receive_maximum=getattr(props, "ReceiveMaximum", None),
        topic_alias_maximum=getattr(props, "TopicAliasMaximum", None),
        maximum_packet_size=getattr(props, "MaximumPacketSize", None),
    )
    a.sub("paho/misc/#", 0)
    a.client.unsubscribe("paho/misc/#")
    time.sleep(0.2)
    a.pub("paho/misc/x", b"after unsubscribe", 1)
    emit("after_unsubscribe", messages=[msg_json(m) for m in a.drain(0.5)])
    a.stop()
    first = Peer("paho-twin", version=mqtt.MQTTv5)
    first.connect()
    second = Peer("paho-twin", version=mqtt.MQTTv5)
    second.connect()
    emit("taken_over", reason=rc_value(first.disconnects.get(timeout=WAIT)))
    first.client.loop_stop()
    second.stop()


def scenario_websocket():
    sub = Peer("paho-ws-sub", transport="websockets")
    sub.connect(path=EXTRA or "/mqtt")
    sub.sub("paho/ws/#", 1)
    pub = Peer("paho-ws-pub", transport="websockets")
    pub.connect(path=EXTRA or "/mqtt")
    pub.pub("paho/ws/x", b"over websocket", 1)
    emit("received", **msg_json(sub.recv()))
    sub.stop()
    pub.stop()


SCENARIOS = {
    name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")
}

if __name__ == "__main__":
    threading.excepthook = lambda a: (emit("thread_error", error=repr(a.exc_value)), None)
    SCENARIOS[SCENARIO]()
    emit("done")
