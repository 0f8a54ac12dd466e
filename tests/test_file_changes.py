"""FileChanges: a follower's wait ends on a change notification, or after its poll at the latest.

The poll interval is set huge where notification is under test, so a wait can only end
because the file changed and the operating system said so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from agenttree import file_changes
from agenttree.file_changes import FileChanges

NEVER = 1e9
"""A poll interval no test lives to see."""


def append(path: Path, text: bytes = b"line\n") -> None:
    with open(path, "ab") as f:
        f.write(text)


@asynccontextmanager
async def following(path: Path, **options) -> AsyncIterator[FileChanges]:
    """``FileChanges`` for ``path``, running (watching, or polling only) for the block."""
    changes = FileChanges(path, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(changes.run)
        yield changes
        nursery.cancel_scope.cancel()


async def require_notification(directory: Path) -> None:
    """Fail at once, saying why, where change notification cannot start: a test that relies on
    it would otherwise wait for ever."""
    probe = directory / "notification-probe"
    probe.touch()
    async with following(probe, poll_s=NEVER) as changes:
        if not changes.notifying:
            pytest.fail("file-change notification cannot start here (the user's inotify "
                        "instances used up? see /proc/sys/fs/inotify/max_user_instances)")


async def test_a_wait_ends_when_the_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    path.touch()
    async with following(path, poll_s=NEVER) as changes:
        assert changes.notifying
        for _ in range(3):
            append(path)
            await changes.wait()
    assert not changes.notifying


async def test_a_change_before_the_wait_is_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.touch()
    async with following(path, poll_s=NEVER) as changes:
        append(path)
        while not changes._changed:  # the follower is busy elsewhere as the change comes
            await trio.sleep(0)
        await changes.wait()  # returns at once: the change was noted


async def test_a_file_that_does_not_exist_yet_is_followed_once_created(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    async with following(path, poll_s=NEVER) as changes:
        append(path)
        await changes.wait()
        append(path)  # now watched as a file
        await changes.wait()


async def test_a_deleted_and_recreated_file_is_followed_on(tmp_path: Path) -> None:
    path = tmp_path / "control.jsonl"
    path.touch()
    async with following(path, poll_s=NEVER) as changes:
        path.unlink()
        await changes.wait()
        append(path)
        await changes.wait()
        append(path)
        await changes.wait()


async def test_a_watch_is_a_wait_not_a_worker_thread_hop(tmp_path: Path, autojump_clock) -> None:
    """The watcher's blocking wait holds none of Trio's worker-thread tokens (an fsync or a plan
    parse needs them), and virtual time passes while it waits, as while a socket waits."""
    path = tmp_path / "control.jsonl"
    path.touch()
    async with following(path, poll_s=NEVER) as changes:
        assert changes.notifying
        assert trio.to_thread.current_default_thread_limiter().borrowed_tokens == 0
        t0 = trio.current_time()
        await trio.sleep(3600)
        assert trio.current_time() - t0 == 3600


def test_a_run_does_not_import_anyio(tmp_path: Path) -> None:
    """An ``agenttree run`` follows its control file on plain Trio: anyio's Trio backend (~20 ms
    to import, before the first agent starts) is not loaded."""
    (tmp_path / "plan.edn").write_text(
        '{:task {:task/id "root" :script [{:say "hello"}]}}\n')
    code = ("import json, sys\nfrom agenttree.cli import main\n"
            "rc = main(['run', 'plan.edn', '--run-dir', 'r', '--quiet'])\n"
            "print(json.dumps([rc, sorted(m for m in sys.modules if m.startswith('anyio'))]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    rc, anyio_modules = json.loads(result.stdout.splitlines()[-1])
    assert rc == 0 and (tmp_path / "r" / "events.jsonl").exists()
    assert "anyio._backends._trio" not in anyio_modules


def without_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make change notification unavailable (as when inotify instances are used up): every
    follower polls."""
    def unavailable(*args: object) -> None:
        raise OSError(24, "Too many open files (inotify instances used up)")

    monkeypatch.setattr(file_changes, "RustNotify", unavailable)


async def test_without_notification_a_wait_is_the_poll(tmp_path: Path, autojump_clock,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    without_notification(monkeypatch)
    path = tmp_path / "control.jsonl"
    path.touch()
    async with following(path, poll_s=0.25) as changes:
        assert not changes.notifying
        t0 = trio.current_time()
        append(path)
        await changes.wait()
        assert trio.current_time() - t0 == pytest.approx(0.25)


def test_the_private_watchfiles_api_it_uses_is_as_expected(tmp_path: Path) -> None:
    """``file_changes`` uses ``watchfiles._rust_notify`` (``awatch`` can say neither when its
    watch has begun nor stop within a step when cancelled: it waits out ``rust_timeout``);
    pyproject.toml pins the versions checked. A newer one that changed it fails here, saying
    so, rather than as a hang or a crashed control tail."""
    import threading

    import watchfiles
    from watchfiles import Change

    def changed(what: str) -> str:
        return (f"watchfiles {watchfiles.VERSION} changed the private API that "
                f"agenttree/file_changes.py uses ({what}): adapt it and the pin in pyproject.toml")

    path = tmp_path / "control.jsonl"
    path.touch()
    try:
        watcher = file_changes.RustNotify([str(path)], False, False, 0, False, False)
    except TypeError as exc:
        pytest.fail(changed(f"RustNotify(paths, debug, force_polling, poll_delay_ms, "
                            f"recursive, ignore_permission_denied): {exc}"))
    assert issubclass(file_changes.WatchfilesRustInternalError, Exception), changed(
        "WatchfilesRustInternalError")
    stop = threading.Event()
    try:
        append(path)  # seen once the watcher exists, before watch() is called
        # 10 s of real time: a hang guard only (the change is there already)
        raw = watcher.watch(file_changes.DEBOUNCE_MS, file_changes.STEP_MS, 10_000, stop)
        assert isinstance(raw, set) and (Change.modified, str(path)) in raw, changed(
            f"watch(debounce_ms, step_ms, timeout_ms, stop) gave {raw!r} for an append")
        assert watcher.watch(file_changes.DEBOUNCE_MS, file_changes.STEP_MS, 1, stop) == \
            "timeout", changed("watch() on no change, past its timeout, is not 'timeout'")
        stop.set()
        assert watcher.watch(file_changes.DEBOUNCE_MS, file_changes.STEP_MS, 0, stop) == \
            "stop", changed("watch() with its stop event set is not 'stop'")
    finally:
        watcher.close()
