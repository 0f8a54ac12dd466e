"""A stub Kubernetes API server for contract tests: an ASGI app served by hypercorn on 127.0.0.1.

It keeps Jobs and NetworkPolicies in memory (409 on a second create, 404 on a missing name),
one pod per Job with per-container logs, and
records every request. Tests move a Job along with :meth:`StubKube.start` (pod ready; or
``auto_ready``) and :meth:`StubKube.finish`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import parse_qs

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

ROUTE = re.compile(r"^/(?:api/v1|apis/(?P<group>[\w.]+)/v1)/namespaces/(?P<ns>[^/]+)/"
                   r"(?P<kind>jobs|networkpolicies|pods)(?:/(?P<name>[^/]+))?(?P<log>/log)?$")


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "message": message, "code": code}


class StubKube:
    """The server's state and the requests it saw."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.logs: dict[str, str] = {}
        self.exit_codes: dict[str, int] = {}
        self.url = ""
        self.created = trio.Event()
        self.auto_ready = False

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) \
            -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = config.errorlog = None
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(functools.partial(serve, self.app, config))
            self.url = binds[0]
            task_status.started(self.url)

    def finish(self, name: str, *, succeeded: bool, exit_code: int = 0) -> None:
        """Mark Job ``name`` Complete or Failed (its SUT exiting with ``exit_code``)."""
        job = self.objects[("jobs", name)]
        self.exit_codes[name] = exit_code
        kind = "Complete" if succeeded else "Failed"
        job["status"] = {"succeeded" if succeeded else "failed": 1,
                         "conditions": [{"type": kind, "status": "True"}]}

    def start(self, name: str) -> None:
        """Mark Job ``name`` running with its pod ready."""
        job = self.objects[("jobs", name)]
        job["status"] = {"active": 1, "ready": 1}

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        method, path = scope["method"], scope["path"]
        self.requests.append((method, path, json.loads(body) if body else query))
        match = ROUTE.match(path)
        if match is None:
            return await self._reply(send, 404, _status(404, "NotFound", path))
        kind, name = match["kind"], match["name"]
        if kind == "pods":
            return await self._pods(send, name, match["log"] is not None, query)
        if method == "POST":
            obj = json.loads(body)
            key = (kind, obj["metadata"]["name"])
            if key in self.objects:
                return await self._reply(send, 409, _status(409, "AlreadyExists",
                                                             f"{key[1]} already exists"))
            obj.setdefault("status", {})
            self.objects[key] = obj
            if kind == "jobs":
                self.created.set()
                if self.auto_ready:
                    self.start(key[1])
            return await self._reply(send, 201, obj)
        if (kind, name) not in self.objects:
            return await self._reply(send, 404, _status(404, "NotFound", f"{name} not found"))
        if method == "DELETE":
            self.objects.pop((kind, name))
            return await self._reply(send, 200, {"kind": "Status", "apiVersion": "v1",
                                                 "status": "Success"})
        return await self._reply(send, 200, self.objects[(kind, name)])

    async def _pods(self, send: Any, name: str | None, log: bool, query: dict) -> None:
        if log:
            job = name.rsplit("-", 1)[0] if name else ""
            text = self.logs.get(f"{job}/{query.get('container')}", "")
            return await self._reply(send, 200, text.encode(), "text/plain")
        job = query.get("labelSelector", "").removeprefix("job-name=")
        pods = []
        if ("jobs", job) in self.objects:
            statuses = [{"name": "sut", "ready": False, "restartCount": 0, "image": "x",
                         "imageID": "", "state": {"terminated": {
                             "exitCode": self.exit_codes[job]}}}] \
                if job in self.exit_codes else []
            pods.append({"apiVersion": "v1", "kind": "Pod",
                         "metadata": {"name": f"{job}-pod", "namespace": "default"},
                         "status": {"containerStatuses": statuses}})
        await self._reply(send, 200, {"apiVersion": "v1", "kind": "PodList",
                                      "metadata": {}, "items": pods})

    @staticmethod
    async def _reply(send: Any, status: int, body: Any, ctype: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype.encode())]})
        await send({"type": "http.response.body", "body": raw})
