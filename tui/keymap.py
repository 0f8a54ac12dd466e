"""Remapping keys: a TOML file of ``binding-id = "key"`` lines.

The file is ``--keys FILE`` or, when that is not given, ``$XDG_CONFIG_HOME/agenttree/keys.toml``
(``~/.config/agenttree/keys.toml``) if it exists::

    # agenttree tui key map: binding id = "key" (several keys: "x,delete")
    cancel = "X"
    quit = "ctrl+q"

Ids are listed by ``agenttree tui --list-keys`` and in docs/tui.md. A file with an unknown id or
a value that is not a string is refused with one clear line, before the UI starts.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

from agenttree.errors import UserError


def default_path() -> Path:
    """Where the key map is looked for when ``--keys`` is not given."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "agenttree" / "keys.toml"


def load_keymap(path: Path | None, known: Iterable[str]) -> dict[str, str]:
    """Read a key map; ``path=None`` means the default file, if there is one.

    Raises:
        UserError: the file named by ``--keys`` is missing, is not TOML, or names an unknown id.
    """
    if path is None:
        path = default_path()
        if not path.is_file():
            return {}
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such key map file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    table = dict(data)
    if isinstance(table.get("keys"), dict):  # a [keys] table, if any, joins the top level
        table.update(table.pop("keys"))
    ids = set(known)
    keymap: dict[str, str] = {}
    for binding_id, keys in table.items():
        if binding_id not in ids:
            raise UserError(f"{path}: unknown binding id {binding_id!r}; known ids: "
                            f"{', '.join(sorted(ids))}")
        if not isinstance(keys, str) or not keys.strip():
            raise UserError(f"{path}: {binding_id}: the key must be a non-empty string, "
                            f'e.g. {binding_id} = "ctrl+x"')
        keymap[binding_id] = keys.replace(" ", "")
    return keymap
