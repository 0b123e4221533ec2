"""python-engineio's client against switchboard in raw echo mode.

Usage: python pyclient.py <base url> <transports, comma-separated>
Prints one JSON object per line; exits 0 when every step ran.
"""

import json
import sys
import threading

import engineio


def out(**event):
    print(json.dumps(event), flush=True)


def main():
    url, transports = sys.argv[1], sys.argv[2].split(",")
    client = engineio.Client()
    received = []
    arrived = threading.Condition()

    @client.on("message")
    def on_message(data):
        with arrived:
            received.append(data)
            arrived.notify_all()

    def wait_for(n):
        with arrived:
            if not arrived.wait_for(lambda: len(received) >= n, timeout=10):
                out(event="failure", why=f"only {len(received)} messages arrived")
                sys.exit(1)

    client.connect(url, transports=transports)
    out(event="open", transport=client.transport(), sid=client.sid)
    client.send("hello from python")
    wait_for(1)
    out(event="echo", type="text", value=received[0])
    client.send(b"\x00\x01\xfe")
    wait_for(2)
    out(event="echo", type="binary", value=list(received[1]))
    client.disconnect()
    out(event="done")


if __name__ == "__main__":
    main()
