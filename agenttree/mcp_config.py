"""A plan's ``:mcp``: the Model Context Protocol servers whose tools its agents may use.

Plain records, parsed and validated with the plan and written back by :func:`mcp_to_edn`
(docs/tools.md). A server is started over stdio (``:command``) or reached over streamable HTTP
(``:url``); :mod:`agenttree.tools.mcp_tools` connects to it when the run starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
from edn_format import Keyword

from .edn_source import VECTOR, Context, expect, get, kind_of, name_of, named_maps
from .errors import UserError

SERVER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,31}$")
"""Letters, digits and ``-`` (no ``_``, so ``server__tool`` on the wire splits one way only)."""
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
"""An HTTP header name (RFC 9110's token)."""


@attrs.frozen(kw_only=True)
class McpServer:
    """One MCP server: a stdio command (``command``, ``cwd``, ``env``) or a streamable HTTP
    endpoint (``url``, and ``headers_env``: each header's value comes from that environment
    variable when the run starts, never from the plan, never logged)."""

    name: str
    command: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] = attrs.Factory(dict)
    url: str | None = None
    headers_env: dict[str, str] = attrs.Factory(dict)

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "http" if self.url is not None else "stdio"

    def launch(self, base_dir: str | os.PathLike[str] | None) -> tuple[list[str], str]:
        """The command line and working directory of a stdio server, relative paths resolved
        against ``base_dir`` (the plan file's directory; ``None``: the current one)."""
        base = Path(base_dir or os.getcwd())
        program = self.command[0]
        if "/" in program and not os.path.isabs(program):
            program = str(base / program)
        cwd = base / self.cwd if self.cwd is not None else base
        return [program, *self.command[1:]], str(cwd)

    def headers(self) -> dict[str, str]:
        """The HTTP headers, their values read from the environment now.

        Raises:
            UserError: a variable is not set (naming it, never a value).
        """
        out = {}
        for header, variable in self.headers_env.items():
            value = os.environ.get(variable)
            if value is None:
                raise UserError(f"MCP server :{self.name}: header {header} comes from the "
                                f"environment variable {variable}, which is not set")
            out[header] = value
        return out


_STDIO_KEYS = {"command", "cwd", "env"}
_HTTP_KEYS = {"url", "headers-env"}


def parse_mcp(ctx: Context, raw: Any) -> dict[str, McpServer]:
    """The plan's ``:mcp`` map, validated.

    Raises:
        PlanError: the first problem, located at the offending key.
    """
    out: dict[str, McpServer] = {}
    for name, entry in named_maps(
            ctx, raw, "mcp", 'a map like {:calc {:command ["python" "calc_server.py"]}}',
            entry_name=_server_name, entry_example='a server map like {:command ["prog" "arg"]} '
            'or {:url "http://..."}', keys=_STDIO_KEYS | _HTTP_KEYS, what="MCP server"):
        given = {name_of(k) for k in entry}
        if ("command" in given) == ("url" in given):
            raise ctx.fail(f"MCP server :{name} needs exactly one of :command (a stdio server) "
                           "and :url (streamable HTTP)", name)
        mixed = given & (_HTTP_KEYS if "command" in given else _STDIO_KEYS)
        if mixed:
            other = ":url" if "command" in given else ":command"
            raise ctx.fail(f":{min(mixed)} belongs to a server with {other}", min(mixed))
        if "command" in given:
            out[name] = McpServer(name=name, command=_command(ctx, get(entry, "command")),
                                  cwd=_cwd(ctx, get(entry, "cwd")),
                                  env=_strings(ctx, get(entry, "env", {}), "env", ENV_NAME,
                                               "environment variable names", value=None))
        else:
            out[name] = McpServer(name=name, url=_url(ctx, get(entry, "url")),
                                  headers_env=_strings(ctx, get(entry, "headers-env", {}),
                                                       "headers-env", HEADER_NAME,
                                                       "HTTP header names", value=ENV_NAME))
    return out


def _server_name(ctx: Context, key: Any) -> str:
    name = name_of(key) if isinstance(key, Keyword) and key.namespace is None else None
    if name is None or not SERVER_NAME.match(name):
        raise ctx.fail(f"{kind_of(key)} cannot name an MCP server: use a keyword of letters, "
                       "digits and - (at most 32, a letter first)", "mcp")
    return name


def _command(ctx: Context, raw: Any) -> tuple[str, ...]:
    expect(ctx, raw, VECTOR, 'a vector of strings like ["python" "server.py"]', "command")
    if not raw:
        raise ctx.fail("is empty: name the program to run", "command")
    for part in raw:
        expect(ctx, part, str, "strings", "command")
        if "\x00" in part:
            raise ctx.fail("contains a NUL byte", "command")
    if not raw[0].strip():
        raise ctx.fail("the program's name is blank", "command")
    return tuple(raw)


def _cwd(ctx: Context, raw: Any) -> str | None:
    if raw is None:
        return None
    expect(ctx, raw, str, "a directory (relative to the plan file's)", "cwd")
    if not raw.strip() or "\x00" in raw:
        raise ctx.fail("must be a directory name, not blank, no NUL byte", "cwd")
    return raw


def _url(ctx: Context, raw: Any) -> str:
    expect(ctx, raw, str, 'a URL like "http://127.0.0.1:9000/mcp"', "url")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ctx.fail(f'"{raw[:60]}" is not an http:// or https:// URL with a host', "url")
    if parts.username or parts.password:
        raise ctx.fail("holds a user name or password: give credentials in :headers-env, "
                       "from the environment", "url")
    return raw


def _strings(ctx: Context, raw: Any, key: str, names: re.Pattern[str], what: str, *,
             value: re.Pattern[str] | None) -> dict[str, str]:
    expect(ctx, raw, Mapping, 'a map of strings like {"NAME" "value"}', key)
    out = {}
    for k, v in raw.items():
        expect(ctx, k, str, f"{what} as strings", key)
        if not names.match(k):
            raise ctx.fail(f'"{k[:40]}" is not one of the {what}', key)
        expect(ctx, v, str, "string values", key)
        if value is not None and not value.match(v):
            raise ctx.fail(f'"{v[:40]}" is not an environment variable name', key)
        if value is None and "\x00" in v:
            raise ctx.fail("a value contains a NUL byte", key)
        out[k] = v
    return out


def mcp_to_edn(servers: dict[str, McpServer], edn: Any) -> str:
    """``servers`` as EDN that parses back to an equal map (``edn`` writes one value)."""
    entries = []
    for s in servers.values():
        if s.url is not None:
            body = f":url {edn(s.url)} :headers-env {_string_map(s.headers_env, edn)}"
        else:
            body = f":command {edn(list(s.command))} :env {_string_map(s.env, edn)}"
            if s.cwd is not None:
                body += f" :cwd {edn(s.cwd)}"
        entries.append(f":{s.name} {{{body}}}")
    return "{" + "\n  ".join(entries) + "}"


def _string_map(values: dict[str, str], edn: Any) -> str:
    return "{" + " ".join(f"{edn(k)} {edn(v)}" for k, v in values.items()) + "}"
