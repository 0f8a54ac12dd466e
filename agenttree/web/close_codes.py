"""The close codes of the event stream's websocket, shared by the server and its clients (a
client needs them without importing the server)."""

CLOSE_POLICY = 1008
"""Websocket close code for a refused token or Origin."""
CLOSE_BEHIND = 1013
"""Websocket close code ("try again later") for a client that fell too far behind."""
