"""Workspace confinement: a traversal corpus against read, write, list and cwd, both strategies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agenttree.errors import WorkspaceError
from agenttree.tools.workspace import Workspace, openat2_available

STRATEGIES = [pytest.param(False, id="walk"),
              pytest.param(True, id="openat2", marks=pytest.mark.skipif(
                  not openat2_available(), reason="kernel has no openat2"))]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """workspace/ with a few files, escaping links, and neighbours that must stay untouched."""
    root = tmp_path / "workspace"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "workspace-evil").mkdir()
    (tmp_path / "workspace-evil" / "x").write_text("evil")
    os.symlink("/", root / "to-root")
    os.symlink("..", root / "to-parent")
    os.symlink(str(tmp_path / "workspace-evil"), root / "to-evil")
    os.symlink("hop2", root / "hop1")
    os.symlink("../secret.txt", root / "hop2")  # a chain whose last link leaves
    os.symlink("/proc/self/root", root / "proc-root")
    return root


ESCAPES = [
    "..", "../secret.txt", "sub/../../secret.txt", "/etc/passwd",
    "/proc/self/root/etc/passwd", "../workspace-evil/x", "to-root/etc/passwd",
    "to-parent/secret.txt", "to-evil/x", "hop1", "proc-root/etc/passwd", "a\x00b",
]


def _snapshot(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in tmp_path.rglob("*")
            if p.is_file() and not p.is_symlink() and "workspace" not in p.parts}


@pytest.mark.parametrize("use_openat2", STRATEGIES)
@pytest.mark.parametrize("path", ESCAPES)
def test_escapes_are_refused_everywhere(layout: Path, use_openat2: bool, path: str) -> None:
    before = _snapshot(layout.parent)
    with Workspace(layout, use_openat2=use_openat2) as ws:
        with pytest.raises(WorkspaceError):
            ws.read_bytes(path)
        with pytest.raises(WorkspaceError):
            ws.write_bytes(path + "/new" if path in ("..",) else path, b"pwned")
        with pytest.raises(WorkspaceError):
            ws.list_dir(path)
        with pytest.raises(WorkspaceError):
            ws.resolve_dir(path, create=True)
    assert _snapshot(layout.parent) == before
    assert (layout.parent / "secret.txt").read_text() == "outside"
    assert not (layout.parent / "new").exists()


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_messages_say_why(layout: Path, use_openat2: bool) -> None:
    with Workspace(layout, use_openat2=use_openat2) as ws:
        with pytest.raises(WorkspaceError, match=r'"\.\./secret\.txt" leaves the workspace'):
            ws.read_bytes("../secret.txt")
        with pytest.raises(WorkspaceError, match="is absolute"):
            ws.read_bytes("/etc/passwd")
        with pytest.raises(WorkspaceError, match="NUL byte"):
            ws.read_bytes("a\x00b")
        with pytest.raises(WorkspaceError, match=r'"missing\.txt" does not exist'):
            ws.read_bytes("missing.txt")
        with pytest.raises(WorkspaceError, match='"sub" is a directory'):
            ws.read_bytes("sub")


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_normal_use_works(layout: Path, use_openat2: bool) -> None:
    with Workspace(layout, use_openat2=use_openat2) as ws:
        assert ws.write_bytes("deep/er/new.txt", b"hello") == 5
        assert (layout / "deep" / "er" / "new.txt").read_bytes() == b"hello"
        assert ws.read_bytes("deep/er/new.txt") == (b"hello", False)
        assert ws.read_bytes("sub/f.txt", limit=3) == (b"ins", True)
        assert ws.read_bytes("sub/../sub/f.txt") == (b"inside", False)
        kinds = {e.name: e.kind for e in ws.list_dir(".")}
        assert kinds["sub"] == "dir" and kinds["to-root"] == "symlink"
        assert [(e.name, e.kind, e.size) for e in ws.list_dir("sub")] == [("f.txt", "file", 6)]
        assert ws.resolve_dir("made/here", create=True) == layout / "made" / "here"
        assert ws.exists("sub/f.txt") and not ws.exists("nope")
        assert not [p for p in layout.rglob(".*tmp-*")]  # no temp files left behind


@pytest.mark.skipif(not openat2_available(), reason="kernel has no openat2")
def test_inside_symlinks_work_with_openat2_only(layout: Path) -> None:
    os.symlink("sub", layout / "alias")
    with Workspace(layout, use_openat2=True) as ws:
        assert ws.read_bytes("alias/f.txt") == (b"inside", False)
    with Workspace(layout, use_openat2=False) as ws, pytest.raises(WorkspaceError):
        ws.read_bytes("alias/f.txt")


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_write_refuses_a_final_symlink(layout: Path, use_openat2: bool) -> None:
    os.symlink("../secret.txt", layout / "sub" / "link.txt")
    with Workspace(layout, use_openat2=use_openat2) as ws, pytest.raises(WorkspaceError):
        ws.write_bytes("sub/link.txt", b"pwned")
    assert (layout.parent / "secret.txt").read_text() == "outside"


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_directory_swapped_for_a_symlink_is_refused(layout: Path, use_openat2: bool) -> None:
    """The race realpath-then-open loses: a checked directory becomes a link outside."""
    with Workspace(layout, use_openat2=use_openat2) as ws:
        assert ws.read_bytes("sub/f.txt") == (b"inside", False)
        (layout / "sub" / "f.txt").unlink()
        (layout / "sub").rmdir()
        os.symlink(str(layout.parent), layout / "sub")
        (layout.parent / "f.txt").write_text("outside")
        with pytest.raises(WorkspaceError):
            ws.read_bytes("sub/f.txt")
        with pytest.raises(WorkspaceError):
            ws.write_bytes("sub/f.txt", b"pwned")
    assert (layout.parent / "f.txt").read_text() == "outside"


def test_failed_write_leaves_no_temp_file(layout: Path) -> None:
    with Workspace(layout) as ws, pytest.raises(TypeError):
        ws.write_bytes("sub/g.txt", "not bytes")  # type: ignore[arg-type]
    assert sorted(p.name for p in (layout / "sub").iterdir()) == ["f.txt"]


def test_list_dir_skips_entries_that_vanish(layout: Path, monkeypatch) -> None:
    """Another agent's temp file can disappear between listing and stat."""
    real_scandir = os.scandir

    class Vanishing:
        name = ".f.txt.tmp-1234"

        def stat(self, follow_symlinks: bool = True):
            raise FileNotFoundError(2, "No such file or directory")

    class Listing:
        def __init__(self, fd: int) -> None:
            self.inner = real_scandir(fd)

        def __enter__(self):
            return [Vanishing(), *self.inner]

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

    monkeypatch.setattr(os, "scandir", Listing)
    with Workspace(layout) as ws:
        assert [e.name for e in ws.list_dir("sub")] == ["f.txt"]
