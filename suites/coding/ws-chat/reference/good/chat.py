"""A websocket chat server: every valid message is broadcast to every client, numbered."""

import argparse
import json
from functools import partial

import trio
from trio_websocket import ConnectionClosed, serve_websocket


class Room:
    def __init__(self):
        self.clients = set()
        self.seq = 0

    async def handle(self, request):
        if request.path != "/chat":
            await request.reject(404)
            return
        ws = await request.accept()
        self.clients.add(ws)
        try:
            while True:
                message = parse(await ws.get_message())
                if message is None:
                    continue
                self.seq += 1
                await self.broadcast(json.dumps({**message, "seq": self.seq}))
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(ws)

    async def broadcast(self, text):
        for client in list(self.clients):
            try:
                await client.send_message(text)
            except ConnectionClosed:
                self.clients.discard(client)


def parse(text):
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if not isinstance(data.get("user"), str) or not isinstance(data.get("text"), str):
        return None
    return {"user": data["user"], "text": data["text"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    room = Room()
    trio.run(partial(serve_websocket, room.handle, "127.0.0.1", args.port, ssl_context=None))


if __name__ == "__main__":
    main()
