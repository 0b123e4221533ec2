"""python-engineio's asyncio client (aiohttp) offering permessage-deflate, against switchboard
in raw echo mode.

Usage: python pyclient_deflate.py <base url>
Prints one JSON object per line; exits 0 when every step ran.
"""

import asyncio
import json
import sys

import engineio


def out(**event):
    print(json.dumps(event), flush=True)


async def main():
    url = sys.argv[1]
    # aiohttp offers "permessage-deflate; client_max_window_bits" with compress=15.
    client = engineio.AsyncClient(websocket_extra_options={"compress": 15})
    received = asyncio.Queue()

    @client.on("message")
    async def on_message(data):
        await received.put(data)

    await client.connect(url, transports=["websocket"])
    ws = client.ws
    out(
        event="open",
        transport=client.transport(),
        compress=ws.compress,
        extensions=ws._response.headers.get("Sec-WebSocket-Extensions"),
    )
    text = "temperature=21.5;" * 1000
    await client.send(text)
    got = await asyncio.wait_for(received.get(), 10)
    out(event="echo", type="text", length=len(got), same=got == text)
    data = bytes(range(256)) * 200
    await client.send(data)
    got = await asyncio.wait_for(received.get(), 10)
    out(event="echo", type="binary", length=len(got), same=got == data)
    await client.disconnect()
    out(event="done")


if __name__ == "__main__":
    asyncio.run(main())
