"""slow_client.py URL ORIGIN TICKET CHANNEL OUT - a subscriber the test
pauses with SIGSTOP: prints "ready" once subscribed, then reads until the
server closes and writes {"events": n, "code": c} to OUT."""
import asyncio
import json
import sys

import websockets


async def main(url, origin, ticket, channel, out):
    ws = await websockets.connect(url, subprotocols=["crosstalk.v1"], origin=origin,
                                  max_size=None, ping_interval=None, max_queue=None)
    await ws.send(json.dumps({"type": "auth", "ticket": ticket}))
    await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
    n, code = 0, None
    try:
        while True:
            frame = await asyncio.wait_for(ws.recv(), 120)
            for line in frame.split("\n"):
                e = json.loads(line)
                if e["type"] == "subscribed":
                    print("ready", flush=True)
                elif e["type"] == "message":
                    n += 1
    except websockets.exceptions.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else 1006
    except asyncio.TimeoutError:
        code = None
    with open(out, "w") as f:
        json.dump({"events": n, "code": code}, f)


asyncio.run(main(*sys.argv[1:6]))
