"""Workspace confinement: a traversal corpus against every operation, under both strategies.

Everything here uses real files and real symbolic links under ``tmp_path``::

    tmp_path/
        secret.txt, decoy/f.txt       the outside: must never be read, listed or changed
        workspace-evil/x              a sibling whose name starts with the root's name
        workspace/                    the root
            sub/f.txt, sub/up -> ../..
            to-root -> /, to-parent -> .., to-evil -> <abs>/workspace-evil, to-evil-rel -> ...
            hop1 -> hop2 -> hop3 -> ../secret.txt     a chain whose last link leaves
            proc-root -> /proc/self/root, dangling-out -> ../made-outside

Escapes aim at ``tmp_path`` rather than at system files, so that a broken implementation fails
the sentinel check instead of writing to ``/etc``.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenttree import workspace as workspace_module
from agenttree.errors import WorkspaceError
from agenttree.workspace import DirEntry, Workspace, openat2_available

needs_openat2 = pytest.mark.skipif(not openat2_available(), reason="no openat2 on this system")
STRATEGIES = [pytest.param(False, id="walk"),
              pytest.param(True, id="openat2", marks=needs_openat2)]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "decoy").mkdir()
    (tmp_path / "decoy" / "f.txt").write_text("outside")
    (tmp_path / "workspace-evil").mkdir()
    (tmp_path / "workspace-evil" / "x").write_text("evil")
    os.symlink("/", root / "to-root")
    os.symlink("..", root / "to-parent")
    os.symlink("../..", root / "sub" / "up")
    os.symlink(tmp_path / "workspace-evil", root / "to-evil")
    os.symlink("../workspace-evil", root / "to-evil-rel")
    os.symlink("hop2", root / "hop1")
    os.symlink("hop3", root / "hop2")
    os.symlink("../secret.txt", root / "hop3")
    os.symlink("/proc/self/root", root / "proc-root")
    os.symlink("../made-outside", root / "dangling-out")
    return root


@pytest.fixture(params=STRATEGIES)
def ws(request: pytest.FixtureRequest, layout: Path) -> Iterator[Workspace]:
    with Workspace(layout, use_openat2=request.param) as workspace:
        yield workspace


def _outside(tmp_path: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every name outside the root, with its content (or link target): the sentinel."""
    seen: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        if Path(dirpath) == tmp_path:
            dirnames.remove("workspace")
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink():
                seen[str(path)] = ("link", os.readlink(path))
            elif path.is_file():
                seen[str(path)] = ("file", path.read_bytes())
            else:
                seen[str(path)] = ("dir", "")
    return seen


# {out} is tmp_path, absolute, filled in at run time.
ESCAPES = [
    "..", "../secret.txt", "../x", "a/../../secret.txt", "sub/../../secret.txt",
    "../workspace-evil/x", "../workspace-evil", "{out}/secret.txt", "{out}",
    "/proc/self/root{out}/secret.txt", "to-root{out}/secret.txt", "to-root{out}", "to-root",
    "to-parent", "to-parent/secret.txt", "sub/up", "sub/up/secret.txt", "to-evil", "to-evil/x",
    "to-evil-rel", "to-evil-rel/x", "hop1", "hop2", "hop3", "proc-root", "proc-root{out}",
    "proc-root{out}/secret.txt", "dangling-out", "dangling-out/x", "sub/f.txt\x00",
    "a\x00b", "\x00",
]
REFUSAL = (r"leaves the workspace|leads outside the workspace|is absolute|contains a NUL byte"
           r"|symbolic links are not followed here|refusing to write through it")


def _check_refusal(exc: pytest.ExceptionInfo[WorkspaceError], path: str) -> None:
    message = str(exc.value)
    assert exc.match(REFUSAL), message
    shown = path.replace("\x00", "\\x00")
    assert f'"{shown}"' in message, message  # names the path as given


@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_are_refused_by_every_operation(ws: Workspace, layout: Path,
                                                template: str) -> None:
    path = template.format(out=layout.parent)
    before = _outside(layout.parent)
    for call in [lambda p: ws.read_bytes(p), lambda p: ws.write_bytes(p, b"pwned"),
                 lambda p: ws.list_dir(p), lambda p: ws.resolve_dir(p),
                 lambda p: ws.resolve_dir(p, create=True),
                 lambda p: ws.exists(p)]:
        for attempt in (path, path + "/new.txt"):
            with pytest.raises(WorkspaceError) as exc:
                call(attempt)
            _check_refusal(exc, attempt)
    assert _outside(layout.parent) == before
    assert not (layout.parent / "made-outside").exists()


def test_corpus_covers_both_lexical_and_resolved_refusals(layout: Path) -> None:
    """Guard the corpus itself: most entries must get past the lexical check to the kernel."""
    lexical = []
    for template in ESCAPES:
        try:
            Workspace.normalise(template.format(out=layout.parent))
        except WorkspaceError:
            lexical.append(template)
    assert 0 < len(lexical) < len(ESCAPES) / 2


@pytest.mark.parametrize(("path", "message"), [
    ("../etc/passwd", 'path "../etc/passwd" leaves the workspace'),
    ("/etc/passwd", 'path "/etc/passwd" is absolute; paths are relative to the workspace'),
    ("a\x00b", r'path "a\x00b" contains a NUL byte'),
    ("notes.txt", '"notes.txt" does not exist'),
    ("sub", '"sub" is a directory, not a file'),
    ("", 'path "" is empty; name a file'),
    ("sub/", '"sub/" names a directory, not a file'),
    ("sub/f.txt/x", 'path "sub/f.txt/x": "sub/f.txt" is not a directory'),
])
def test_messages_say_why(ws: Workspace, path: str, message: str) -> None:
    with pytest.raises(WorkspaceError) as exc:
        ws.read_bytes(path)
    assert str(exc.value) == message


@needs_openat2
def test_messages_name_the_link_that_leaves(layout: Path) -> None:
    with Workspace(layout, use_openat2=True) as ws:
        with pytest.raises(WorkspaceError) as exc:
            ws.read_bytes("hop1")
        assert str(exc.value) == '"hop1" is a symbolic link that leads outside the workspace'
        with pytest.raises(WorkspaceError) as exc:
            ws.list_dir("sub/up/decoy")
        assert str(exc.value) == ('path "sub/up/decoy" goes through "sub/up", a symbolic link '
                                  "that leads outside the workspace")


def test_walk_messages_tell_leaving_links_from_unfollowed_ones(layout: Path) -> None:
    os.symlink("sub", layout / "alias")
    with Workspace(layout, use_openat2=False) as ws:
        with pytest.raises(WorkspaceError) as exc:
            ws.read_bytes("hop3")
        assert str(exc.value) == '"hop3" is a symbolic link that leads outside the workspace'
        with pytest.raises(WorkspaceError, match='goes through "alias", a symbolic link; '
                                                 "symbolic links are not followed here"):
            ws.read_bytes("alias/f.txt")


@pytest.mark.parametrize("path", ["../x", "/x", "a\x00", "x/../../y"])
def test_write_errors_name_the_file_not_its_parent(ws: Workspace, path: str) -> None:
    with pytest.raises(WorkspaceError) as exc:
        ws.write_bytes(path, b"")
    assert path.replace("\x00", "\\x00") in str(exc.value)


def test_a_missing_parent_is_named(ws: Workspace, layout: Path) -> None:
    with pytest.raises(WorkspaceError) as exc:
        ws.write_bytes("new/x.txt", b"x", make_parents=False)
    assert str(exc.value) == 'path "new/x.txt": "new" does not exist'
    assert not (layout / "new").exists()


@pytest.mark.parametrize(("path", "norm"), [
    ("", "."), (".", "."), ("a/..", "."), ("a//b/./c", "a/b/c"), ("sub/../sub/f.txt", "sub/f.txt"),
    ("a/b/", "a/b"), ("to-root/../x", "x"),
])
def test_dot_dot_is_collapsed_lexically(path: str, norm: str) -> None:
    assert Workspace.normalise(path) == norm


def test_dot_dot_after_a_link_means_the_lexical_parent(ws: Workspace) -> None:
    """``to-root/..`` is the root (lexically), not the parent of ``/``: nothing to escape to."""
    assert ws.read_bytes("to-root/../sub/f.txt") == (b"inside", False)


def test_names_inside_that_look_like_proc(ws: Workspace, layout: Path) -> None:
    """``proc/self/root`` relative is just a name: missing, then an ordinary directory."""
    with pytest.raises(WorkspaceError, match="does not exist"):
        ws.read_bytes("proc/self/root/etc/passwd")
    assert ws.write_bytes("proc/self/root/etc/passwd", b"mine") == 4
    assert (layout / "proc/self/root/etc/passwd").read_bytes() == b"mine"
    assert ws.read_bytes("proc/self/root/etc/passwd") == (b"mine", False)


@pytest.mark.parametrize("use_openat2", STRATEGIES)
@pytest.mark.parametrize("path", ["root/etc/passwd", "cwd", "exe", "fd/0", "root"])
def test_proc_magic_links_are_refused(use_openat2: bool, path: str) -> None:
    """A root inside /proc/<pid> is full of magic links; RESOLVE_NO_MAGICLINKS refuses them."""
    with Workspace(f"/proc/{os.getpid()}", use_openat2=use_openat2) as ws:
        with pytest.raises(WorkspaceError, match="symbolic link"):
            ws.read_bytes(path)
        with pytest.raises(WorkspaceError, match="symbolic link"):
            ws.resolve_dir(path)


def test_normal_use_works(ws: Workspace, layout: Path) -> None:
    assert ws.write_bytes("deep/er/new.txt", b"hello") == 5
    assert (layout / "deep" / "er" / "new.txt").read_bytes() == b"hello"
    assert ws.read_bytes("deep/er/new.txt") == (b"hello", False)
    assert ws.write_bytes("deep/er/new.txt", bytearray(b"bye")) == 3
    assert ws.read_bytes("./deep//er/new.txt") == (b"bye", False)
    assert ws.read_bytes("sub/../sub/f.txt") == (b"inside", False)
    assert ws.resolve_dir("made/here", create=True) == layout / "made" / "here"
    assert (layout / "made" / "here").is_dir()
    assert ws.resolve_dir("") == ws.resolve_dir(".") == layout
    assert ws.exists("sub/f.txt") and ws.exists("sub") and ws.exists("")
    assert not ws.exists("nope") and not ws.exists("sub/f.txt/x")
    assert not list(layout.rglob(".*tmp-*"))  # no temporary files left behind


def test_root_is_absolute_and_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ws").mkdir()
    (tmp_path / "file").write_text("")
    with Workspace("ws") as ws:
        assert ws.root == tmp_path / "ws" and ws.root.is_absolute()
    with pytest.raises(FileNotFoundError):
        Workspace("missing")
    with pytest.raises(NotADirectoryError):
        Workspace("file")


@pytest.mark.parametrize(("size", "limit", "expected"), [
    (6, 3, (b"ins", True)), (6, 6, (b"inside", False)), (6, 0, (b"", True)),
    (3_000_000, 2_500_000, (b"x" * 2_500_000, True)),
])
def test_reads_truncate_at_the_limit(ws: Workspace, layout: Path, size: int, limit: int,
                                     expected: tuple[bytes, bool]) -> None:
    if size != 6:
        (layout / "big").write_bytes(b"x" * size)
    assert ws.read_bytes("sub/f.txt" if size == 6 else "big", limit=limit) == expected


def test_read_refuses_a_fifo_without_blocking(ws: Workspace, layout: Path) -> None:
    os.mkfifo(layout / "pipe")
    with pytest.raises(WorkspaceError, match='"pipe" is not a regular file'):
        ws.read_bytes("pipe")
    with pytest.raises(WorkspaceError, match='"pipe" is not a regular file'):
        ws.write_bytes("pipe", b"x")


def test_list_dir_reports_kinds_and_sizes_sorted(ws: Workspace, layout: Path) -> None:
    os.mkfifo(layout / "sub" / "pipe")
    (layout / "sub" / "b.bin").write_bytes(b"12345")
    (layout / "sub" / "a-dir").mkdir()
    entries = ws.list_dir("sub")
    assert [(e.name, e.kind) for e in entries] == [
        ("a-dir", "dir"), ("b.bin", "file"), ("f.txt", "file"), ("pipe", "other"),
        ("up", "symlink")]
    sizes = {e.name: e.size for e in entries}
    assert sizes["b.bin"] == 5 and sizes["f.txt"] == 6 and sizes["up"] == len("../..")
    assert ws.list_dir("") == ws.list_dir(".") == ws.list_dir("sub/..")
    with pytest.raises(AttributeError):
        entries[0].name = "x"  # type: ignore[misc]
    assert DirEntry(name="a", kind="file", size=1) == DirEntry(name="a", kind="file", size=1)


def test_list_dir_of_a_file_is_refused(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match=re.escape('"sub/f.txt" is not a directory')):
        ws.list_dir("sub/f.txt")


@needs_openat2
def test_inside_symlinks_work_with_openat2(layout: Path) -> None:
    os.symlink("sub", layout / "alias")
    os.symlink("../sub/f.txt", layout / "sub" / "again")  # climbs, but stays inside
    with Workspace(layout, use_openat2=True) as ws:
        assert ws.read_bytes("alias/f.txt") == (b"inside", False)
        assert ws.read_bytes("alias/again") == (b"inside", False)
        assert [e.name for e in ws.list_dir("alias")] == ["again", "f.txt", "up"]
        assert ws.write_bytes("alias/new/g.txt", b"g") == 1
        assert (layout / "sub" / "new" / "g.txt").read_bytes() == b"g"
        assert ws.resolve_dir("alias") == layout / "alias"
        assert ws.exists("alias/f.txt")


def test_the_walk_refuses_every_symlink(layout: Path) -> None:
    """Without openat2 a link is refused even when it stays inside: the price of no kernel help."""
    os.symlink("sub", layout / "alias")
    with Workspace(layout, use_openat2=False) as ws:
        for call in [lambda: ws.read_bytes("alias/f.txt"), lambda: ws.list_dir("alias"),
                     lambda: ws.write_bytes("alias/g.txt", b"g"), lambda: ws.exists("alias"),
                     lambda: ws.resolve_dir("alias")]:
            with pytest.raises(WorkspaceError, match="symbolic links are not followed here"):
                call()
    assert sorted(p.name for p in (layout / "sub").iterdir()) == ["f.txt", "up"]


@pytest.mark.parametrize("target", ["f.txt", "../secret.txt", "../../secret.txt"])
def test_write_refuses_a_final_symlink(ws: Workspace, layout: Path, target: str) -> None:
    os.symlink(target, layout / "sub" / "link.txt")
    refusal = re.escape('"sub/link.txt" is a symbolic link; refusing')
    with pytest.raises(WorkspaceError, match=refusal):
        ws.write_bytes("sub/link.txt", b"pwned")
    assert os.readlink(layout / "sub" / "link.txt") == target
    assert (layout / "sub" / "f.txt").read_text() == "inside"
    assert (layout.parent / "secret.txt").read_text() == "outside"


def test_write_refuses_a_directory(ws: Workspace, layout: Path) -> None:
    with pytest.raises(WorkspaceError, match='"sub" is a directory, not a file'):
        ws.write_bytes("sub", b"x")
    assert (layout / "sub" / "f.txt").read_text() == "inside"


def test_failed_write_keeps_the_old_file_and_no_temp(ws: Workspace, layout: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills up half-way: the old content survives whole, the temp file goes."""
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(WorkspaceError, match=re.escape('"sub/f.txt": No space left on device')):
        ws.write_bytes("sub/f.txt", b"a much longer replacement")
    monkeypatch.undo()
    assert (layout / "sub" / "f.txt").read_text() == "inside"
    assert sorted(p.name for p in (layout / "sub").iterdir()) == ["f.txt", "up"]


def test_write_of_non_bytes_creates_nothing(ws: Workspace, layout: Path) -> None:
    with pytest.raises(TypeError):
        ws.write_bytes("fresh/g.txt", "not bytes")  # type: ignore[arg-type]
    assert not (layout / "fresh").exists()


def test_write_keeps_the_mode_of_the_file_it_replaces(ws: Workspace, layout: Path) -> None:
    script = layout / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o750)
    ws.write_bytes("run.sh", b"#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750
    assert script.read_text().endswith("echo hi\n")


def test_write_with_a_very_long_name(ws: Workspace, layout: Path) -> None:
    name = "n" * 250  # the temporary file's name must still fit in NAME_MAX
    assert ws.write_bytes(name, b"x") == 1
    assert (layout / name).read_bytes() == b"x"


def test_resolve_dir_without_create_wants_it_to_exist(ws: Workspace, layout: Path) -> None:
    with pytest.raises(WorkspaceError, match='"nope" does not exist'):
        ws.resolve_dir("nope")
    with pytest.raises(WorkspaceError, match=re.escape('"sub/f.txt" is not a directory')):
        ws.resolve_dir("sub/f.txt", create=True)
    assert not (layout / "nope").exists()


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_directory_swapped_for_a_symlink_is_refused(layout: Path, use_openat2: bool) -> None:
    """The swap realpath-then-open loses to: a checked directory becomes a link outside."""
    with Workspace(layout, use_openat2=use_openat2) as ws:
        assert ws.read_bytes("sub/f.txt") == (b"inside", False)
        assert ws.resolve_dir("sub") == layout / "sub"
        assert [e.name for e in ws.list_dir("sub")] == ["f.txt", "up"]
        os.rename(layout / "sub", layout.parent / "moved-out")
        os.symlink(layout.parent / "decoy", layout / "sub")
        before = _outside(layout.parent)
        for call in [lambda: ws.read_bytes("sub/f.txt"), lambda: ws.list_dir("sub"),
                     lambda: ws.write_bytes("sub/f.txt", b"pwned"),
                     lambda: ws.write_bytes("sub/new.txt", b"pwned"),
                     lambda: ws.resolve_dir("sub"), lambda: ws.resolve_dir("sub/d", create=True),
                     lambda: ws.exists("sub/f.txt")]:
            with pytest.raises(WorkspaceError, match="leads outside the workspace"):
                call()
        assert _outside(layout.parent) == before


def test_resolve_dir_refuses_a_swap_after_its_check(layout: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The returned path must still name the directory that was checked through the fd."""
    real_open_dir = Workspace._open_dir

    def open_then_swap(self: Workspace, norm: str, shown: str, *, create: bool) -> int:
        fd = real_open_dir(self, norm, shown, create=create)
        os.rename(layout / "sub", layout / "sub.old")
        os.symlink(layout.parent / "decoy", layout / "sub")
        return fd

    monkeypatch.setattr(Workspace, "_open_dir", open_then_swap)
    with Workspace(layout) as ws, pytest.raises(WorkspaceError, match="changed while"):
        ws.resolve_dir("sub")


@pytest.mark.parametrize("use_openat2", STRATEGIES)
def test_concurrent_swaps_never_reach_outside(layout: Path, use_openat2: bool) -> None:
    """A thread flips ``sub`` between the real directory and a link outside, as fast as it can,
    while reads and writes go through it: each sees the inside, or is refused, never the outside.
    """
    decoy = layout.parent / "decoy"
    stop = threading.Event()
    failures: list[BaseException] = []

    def flip() -> None:
        try:
            while not stop.is_set():
                os.rename(layout / "sub", layout / "sub.real")
                os.symlink(decoy, layout / "sub")
                os.unlink(layout / "sub")
                os.rename(layout / "sub.real", layout / "sub")
        except BaseException as exc:
            failures.append(exc)

    flipper = threading.Thread(target=flip)
    outcomes = {"inside": 0, "refused": 0}
    with Workspace(layout, use_openat2=use_openat2) as ws:
        flipper.start()
        try:
            for _ in range(1500):
                try:
                    assert ws.read_bytes("sub/f.txt") == (b"inside", False)
                    ws.write_bytes("sub/w.txt", b"w", make_parents=False)
                    ws.list_dir("sub")
                    outcomes["inside"] += 1
                except WorkspaceError:
                    outcomes["refused"] += 1
        finally:
            stop.set()
            flipper.join()
    assert not failures
    assert sorted(p.name for p in decoy.iterdir()) == ["f.txt"]
    assert (decoy / "f.txt").read_text() == "outside"
    assert sum(outcomes.values()) == 1500


def test_closed_workspace_refuses_calls(layout: Path) -> None:
    ws = Workspace(layout)
    ws.close()
    ws.close()
    with pytest.raises(ValueError, match="closed"):
        ws.read_bytes("sub/f.txt")


def test_fallback_when_openat2_is_missing(layout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSYS (old kernel) or EPERM (seccomp) at the probe: the walk is used, detected once."""
    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))

    monkeypatch.setattr(workspace_module, "_openat2", refuse)
    openat2_available.cache_clear()
    try:
        assert not openat2_available()
        with Workspace(layout) as ws:
            assert ws.strategy == "walk"
            assert ws.read_bytes("sub/f.txt") == (b"inside", False)
        with pytest.raises(ValueError, match="openat2 is not available"):
            Workspace(layout, use_openat2=True)
    finally:
        openat2_available.cache_clear()
    monkeypatch.undo()
    assert openat2_available() == (Workspace(layout).strategy == "openat2")


def test_messages_escape_control_characters(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError) as exc:
        ws.read_bytes('odd"\nname')
    assert str(exc.value) == r'"odd\"\nname" does not exist'


def test_write_path_components(ws: Workspace, layout: Path) -> None:
    """The file lands in the directory its path names, however it is spelled."""
    ws.write_bytes("x/./y//z.txt", b"z")
    assert (layout / "x" / "y" / "z.txt").read_bytes() == b"z"
    assert [e.name for e in ws.list_dir("x")] == ["y"]


def test_list_dir_skips_entries_that_vanish(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer's temp file can disappear between the listing and its stat."""
    real_scandir = os.scandir

    class Vanishing:
        name = ".f.txt.tmp-1234"

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT))

    class Listing:
        def __init__(self, fd: int) -> None:
            self.inner = real_scandir(fd)

        def __enter__(self) -> list[object]:
            return [Vanishing(), *self.inner]

        def __exit__(self, *exc: object) -> None:
            self.inner.close()

    monkeypatch.setattr(os, "scandir", Listing)
    assert [e.name for e in ws.list_dir("sub")] == ["f.txt", "up"]
