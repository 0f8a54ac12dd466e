"""Race-free file access confined to a run's workspace directory.

Paths come from a model, so they are untrusted. ``realpath`` then ``open`` is racy (a directory can
be swapped for a symbolic link in between), so every access resolves relative to a descriptor of
the workspace root that :class:`Workspace` holds open, with one of two strategies:

* **openat2** (Linux 5.6+): the kernel resolves the path with ``RESOLVE_BENEATH |
  RESOLVE_NO_MAGICLINKS`` and refuses, atomically, anything that would leave the root (absolute or
  climbing symbolic links, chains of them, ``/proc`` magic links). Symbolic links that stay inside
  keep working.
* **walk** (no openat2: other kernels, other systems, a seccomp filter that answers ``EPERM`` or
  ``ENOSYS``): the path is opened one component at a time, each ``O_NOFOLLOW`` relative to the
  descriptor of the previous one. Every symbolic link is refused, even one that stays inside.

Which one this machine supports is probed once (:func:`openat2_available`).

``..`` is resolved *lexically*, before the file system is touched (:meth:`Workspace.normalise`):
``a/link/../b`` means ``a/b`` whatever ``link`` points to, and a path whose normal form still
starts with ``..`` is refused. The lexical result of a relative path is always below the root, so
this cannot escape, and neither strategy ever sees a ``..`` from the caller (one inside a symbolic
link's target is the kernel's to check, under openat2). Absolute paths and NUL bytes are refused.

What this does not cover: hard links and bind mounts made by someone who can already reach the
outside, and a directory that is moved out of the workspace while we hold it open (agents' shells
run in a sandbox that can only write the workspace, so they can do neither).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import platform
import posixpath
import secrets
import stat
import sys
from pathlib import Path
from typing import Literal

import attrs

from .errors import WorkspaceError

# New system calls have had one number on every architecture since Linux 5.1, except alpha, ia64
# and mips, which offset theirs; we only use it where we know the number.
_SYS_OPENAT2 = 437
_OPENAT2_MACHINES = frozenset({
    "x86_64", "amd64", "i386", "i686", "aarch64", "arm64", "armv6l", "armv7l", "armv8l",
    "riscv64", "ppc64", "ppc64le", "s390x", "loongarch64",
})
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08

# O_PATH (Linux) opens a name without reading it: enough to resolve, stat and use as a dir_fd,
# and it never blocks on a FIFO. Elsewhere fall back to a non-blocking read-only open.
_O_PATH = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK)
_O_DIR = _O_PATH | os.O_DIRECTORY
_O_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY  # a FIFO must not hang a reader
_EAGAIN_RETRIES = 8


def _quote(path: str) -> str:
    """``path`` in double quotes, with control characters escaped, for an error message."""
    out = []
    for char in path:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(repr(char)[1:-1])  # \x00, \n, \udcff...
    return '"' + "".join(out) + '"'


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _openat2(dir_fd: int, path: str, flags: int, mode: int = 0) -> int:
    """``openat2(dir_fd, path, flags)`` confined beneath ``dir_fd``; raises OSError."""
    if not flags & os.O_CREAT:
        mode = 0  # openat2 refuses a mode without O_CREAT
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    name = os.fsencode(path)
    for _ in range(_EAGAIN_RETRIES):
        fd = _libc().syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_long(dir_fd),
                             ctypes.c_char_p(name), ctypes.byref(how),
                             ctypes.c_size_t(ctypes.sizeof(how)))
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        # EAGAIN: a concurrent rename made a ".." (inside a link's target) unverifiable.
        if err not in (errno.EAGAIN, errno.EINTR):
            break
    raise OSError(err, os.strerror(err), path)


@functools.cache
def openat2_available() -> bool:
    """Whether ``openat2`` works here and enforces ``RESOLVE_BENEATH``; probed once, then cached.

    False on other systems and architectures, on kernels before 5.6 (``ENOSYS``) and under
    seccomp policies that refuse the call (``EPERM``, ``ENOSYS``).
    """
    if sys.platform != "linux" or platform.machine().lower() not in _OPENAT2_MACHINES:
        return False
    try:
        root = os.open("/", _O_DIR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        os.close(_openat2(root, ".", _O_DIR))
        try:
            os.close(_openat2(root, "..", _O_DIR))
        except OSError as exc:
            return exc.errno == errno.EXDEV  # refused: the resolve flags are enforced
        return False  # ".." of "/" opened: RESOLVE_BENEATH was ignored, so do not rely on it
    except OSError:
        return False
    finally:
        os.close(root)


def _walk(root_fd: int, norm: str, flags: int, mode: int = 0) -> int:
    """Open ``norm`` below ``root_fd`` one component at a time, following no symbolic link."""
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if not parts:
        return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=root_fd)
    fd = root_fd
    try:
        for part in parts[:-1]:
            # O_DIRECTORY | O_NOFOLLOW on a symbolic link fails with ENOTDIR.
            next_fd = os.open(part, _O_DIR | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            if fd != root_fd:
                os.close(fd)
            fd = next_fd
        out = os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
    finally:
        if fd != root_fd:
            os.close(fd)
    if flags & _O_PATH and stat.S_ISLNK(os.fstat(out).st_mode):
        os.close(out)  # O_PATH | O_NOFOLLOW opens the link itself; we do not want it
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), norm)
    return out


@attrs.frozen(kw_only=True)
class DirEntry:
    """One entry of :meth:`Workspace.list_dir`.

    Attributes:
        name: the entry's name in its directory.
        kind: ``"file"``, ``"dir"``, ``"symlink"`` (never followed here) or ``"other"``.
        size: in bytes, from ``lstat`` (for a symbolic link, the length of its target).
    """

    name: str
    kind: Literal["file", "dir", "symlink", "other"]
    size: int


def _kind(mode: int) -> Literal["file", "dir", "symlink", "other"]:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


class Workspace:
    """A run's workspace: every path is resolved inside ``root`` or refused with WorkspaceError.

    Paths are relative to the root, use ``/`` and come from untrusted callers; each method
    resolves its path afresh (see the module docstring), so a check never goes stale.

    All methods block on the file system: call them from ``trio.to_thread.run_sync``. They are
    safe to call from several threads at once; :meth:`close` only once they are done. A worker
    thread cannot be cancelled, so a cancelled caller leaves the call to finish on its own (a
    write still lands whole, or not at all).

    Args:
        root: an existing directory. Its descriptor stays open until :meth:`close`; a missing
            root raises FileNotFoundError, a file NotADirectoryError.
        use_openat2: force a strategy (for tests). ``None`` uses openat2 where available;
            ``True`` raises ValueError where it is not.

    Attributes:
        root: the root, absolute and with symbolic links resolved.
        strategy: ``"openat2"`` or ``"walk"``.
    """

    def __init__(self, root: str | os.PathLike[str], *, use_openat2: bool | None = None) -> None:
        if use_openat2 is None:
            use_openat2 = openat2_available()
        elif use_openat2 and not openat2_available():
            raise ValueError("openat2 is not available on this system")
        self.root: Path = Path(root).resolve()
        self.strategy: Literal["openat2", "walk"] = "openat2" if use_openat2 else "walk"
        self._fd = os.open(self.root, _O_DIR | os.O_CLOEXEC)

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, strategy={self.strategy!r})"

    def close(self) -> None:
        """Release the root's descriptor; idempotent. Later calls raise ValueError."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- paths -----------------------------------------------------------------------------

    @staticmethod
    def normalise(path: str) -> str:
        """The lexical normal form of a workspace path (``""`` and ``"a/.."`` are ``"."``).

        Touches no file system: ``..`` is collapsed lexically. This is also the key that locks
        are taken on, so two spellings of a path share their locks.

        Raises:
            WorkspaceError: the path is not a string, contains a NUL byte, is absolute, cannot
                be encoded as a file name, or climbs out of the root.
        """
        if not isinstance(path, str):
            raise WorkspaceError(f"path must be a string, got {type(path).__name__}")
        if "\x00" in path:
            raise WorkspaceError(f"path {_quote(path)} contains a NUL byte")
        if path.startswith("/"):
            raise WorkspaceError(f"path {_quote(path)} is absolute; paths are relative to the "
                                 "workspace")
        try:
            os.fsencode(path)
        except UnicodeEncodeError:
            raise WorkspaceError(f"path {_quote(path)} cannot be encoded as a file name") from None
        norm = posixpath.normpath(path) if path else "."
        if norm == ".." or norm.startswith("../"):
            raise WorkspaceError(f"path {_quote(path)} leaves the workspace")
        return norm

    def _file_path(self, path: str) -> str:
        """``normalise`` for a path that must name a file."""
        norm = self.normalise(path)
        if path == "":
            raise WorkspaceError('path "" is empty; name a file')
        if path.endswith("/") or norm == ".":
            raise WorkspaceError(f"{_quote(path)} names a directory, not a file")
        return norm

    def _root_fd(self) -> int:
        if self._fd < 0:
            raise ValueError("I/O operation on a closed Workspace")
        return self._fd

    def _resolve(self, norm: str, flags: int, mode: int = 0) -> int:
        """A descriptor for ``norm`` (already normalised) opened inside the root; raises OSError."""
        if self.strategy == "openat2":
            return _openat2(self._root_fd(), norm, flags, mode)
        return _walk(self._root_fd(), norm, flags, mode)

    def _open(self, path: str, flags: int) -> int:
        norm = self.normalise(path)
        try:
            return self._resolve(norm, flags)
        except OSError as exc:
            raise self._explain(exc, norm, path) from None

    def _open_dir(self, norm: str, shown: str, *, create: bool) -> int:
        """An ``O_PATH`` descriptor of directory ``norm``, made (like ``mkdir -p``) if asked."""
        try:
            return self._resolve(norm, _O_DIR)
        except OSError as exc:
            if not (create and exc.errno == errno.ENOENT):
                raise self._explain(exc, norm, shown) from None
        parts = norm.split("/")
        fd = os.dup(self._root_fd())
        try:
            for i, part in enumerate(parts, 1):
                prefix = "/".join(parts[:i])
                try:
                    try:
                        next_fd = self._resolve(prefix, _O_DIR)
                    except FileNotFoundError:
                        # Made in the directory we hold, then looked up again from the root, so
                        # a swap in between is resolved (or refused) like any other path.
                        with contextlib.suppress(FileExistsError):
                            os.mkdir(part, 0o777, dir_fd=fd)
                        next_fd = self._resolve(prefix, _O_DIR)
                except OSError as exc:
                    raise self._explain(exc, norm, shown) from None
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    # --- error messages ----------------------------------------------------------------------

    def _culprit(self, norm: str) -> tuple[str, int] | None:
        """The first prefix of ``norm`` that does not resolve to a directory, and why.

        For error messages only: it re-resolves after the fact, so a concurrent change can make
        it blame the wrong component (or none), never open anything outside.
        """
        parts = [] if norm == "." else norm.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            try:
                fd = self._resolve(prefix, _O_PATH)
            except OSError as exc:
                return prefix, exc.errno or 0
            try:
                is_dir = stat.S_ISDIR(os.fstat(fd).st_mode)
            finally:
                os.close(fd)
            if i < len(parts) and not is_dir:
                return prefix, errno.ENOTDIR
        return None

    def _link_leaves(self, link: str) -> bool | None:
        """Whether symbolic link ``link``'s own target leaves the root, read lexically."""
        parent, name = posixpath.split(link)
        try:
            fd = self._resolve(parent or ".", _O_DIR)
        except OSError:
            return None
        try:
            target = os.readlink(name, dir_fd=fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        if target.startswith("/"):
            return True
        norm = posixpath.normpath(posixpath.join(parent, target))
        return norm == ".." or norm.startswith("../")

    def _explain(self, exc: OSError, norm: str, shown: str) -> WorkspaceError:
        """The WorkspaceError for an OSError met while resolving ``norm``.

        ``shown`` is the path as the caller gave it; ``norm`` may be a prefix of it (the parent
        directory of a file being written).
        """
        code = exc.errno
        whole = self.normalise(shown)
        culprit, found = norm, None
        if code in (errno.EXDEV, errno.ELOOP, errno.ENOTDIR):
            found = self._culprit(norm)
            if found is not None:
                culprit, code = found

        def through_link(rest: str) -> WorkspaceError:
            if culprit == whole:
                return WorkspaceError(f"{_quote(shown)} is a symbolic link{rest}")
            return WorkspaceError(f"path {_quote(shown)} goes through {_quote(culprit)}, "
                                  f"a symbolic link{rest}")

        outside = " that leads outside the workspace"
        if code == errno.EXDEV:
            if found is None:
                return WorkspaceError(f"path {_quote(shown)} leaves the workspace")
            return through_link(outside)
        if code == errno.ELOOP:
            if self.strategy == "openat2":
                return through_link(" that cannot be followed (a loop, too many links, or a "
                                    "/proc magic link)")
            if self._link_leaves(culprit):
                return through_link(outside)
            return through_link("; symbolic links are not followed here (this system has no "
                                "openat2)")
        if code == errno.ENOTDIR:
            if culprit == whole:
                return WorkspaceError(f"{_quote(shown)} is not a directory")
            return WorkspaceError(f"path {_quote(shown)}: {_quote(culprit)} is not a directory")
        if code == errno.ENOENT:
            if culprit == whole:
                return WorkspaceError(f"{_quote(shown)} does not exist")
            return WorkspaceError(f"path {_quote(shown)}: {_quote(culprit)} does not exist")
        if code == errno.EISDIR:
            return WorkspaceError(f"{_quote(shown)} is a directory, not a file")
        return WorkspaceError(f"{_quote(shown)}: {exc.strerror or os.strerror(code or 0)}")

    # --- operations ------------------------------------------------------------------------

    def read_bytes(self, path: str, limit: int = 1_000_000) -> tuple[bytes, bool]:
        """Read a regular file.

        Args:
            path: the file, relative to the root.
            limit: the most bytes returned.

        Returns:
            Up to ``limit`` bytes, and whether the file held more.

        Raises:
            WorkspaceError: the path leaves the workspace, is missing, or is not a regular file
                (a FIFO is refused, not waited on).
        """
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        norm = self._file_path(path)
        try:
            fd = self._resolve(norm, _O_READ)
        except OSError as exc:
            raise self._explain(exc, norm, path) from None
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise WorkspaceError(f"{_quote(path)} is a directory, not a file")
            if not stat.S_ISREG(mode):
                raise WorkspaceError(f"{_quote(path)} is not a regular file")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise self._explain(exc, norm, path) from None
        finally:
            os.close(fd)
        data = b"".join(chunks)
        return data[:limit], len(data) > limit

    def write_bytes(self, path: str, data: bytes, *, make_parents: bool = True) -> int:
        """Create or replace a file atomically.

        The data goes to a temporary file in the same directory (opened through the directory's
        descriptor), which is then renamed over the target: readers see the old file or the new
        one, never part of it, and a failed write leaves neither a partial target nor the
        temporary file. A replaced file keeps its permission bits. Nothing is fsynced, so this
        is atomic against other readers, not durable across a power cut.

        Args:
            path: the file, relative to the root.
            data: the new content (any bytes-like object).
            make_parents: create missing parent directories.

        Returns:
            The number of bytes written.

        Raises:
            WorkspaceError: the path leaves the workspace, its parent is missing (and
                ``make_parents`` is false), or it names a directory or a symbolic link (never
                written through, wherever it points).
        """
        view = memoryview(data).cast("B")  # TypeError before anything is created
        size = view.nbytes
        norm = self._file_path(path)
        parent, name = posixpath.split(norm)
        dir_fd = self._open_dir(parent or ".", path, create=make_parents)
        try:
            try:
                old = os.lstat(name, dir_fd=dir_fd)
            except FileNotFoundError:
                old = None
            except OSError as exc:
                raise self._explain(exc, norm, path) from None
            if old is not None and stat.S_ISLNK(old.st_mode):
                raise WorkspaceError(f"{_quote(path)} is a symbolic link; refusing to write "
                                     "through it")
            if old is not None and stat.S_ISDIR(old.st_mode):
                raise WorkspaceError(f"{_quote(path)} is a directory, not a file")
            if old is not None and not stat.S_ISREG(old.st_mode):
                raise WorkspaceError(f"{_quote(path)} is not a regular file")
            short = name if len(os.fsencode(name)) <= 200 else "agenttree"  # NAME_MAX is 255
            tmp = f".{short}.tmp-{secrets.token_hex(4)}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                             | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
            except OSError as exc:
                raise self._explain(exc, norm, path) from None
            try:
                try:
                    if old is not None:
                        os.fchmod(fd, stat.S_IMODE(old.st_mode))
                    while view:
                        view = view[os.write(fd, view):]
                finally:
                    os.close(fd)
                os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dir_fd)
                if isinstance(exc, OSError):
                    raise self._explain(exc, norm, path) from None
                raise
        finally:
            os.close(dir_fd)
        return size

    def list_dir(self, path: str = ".") -> list[DirEntry]:
        """The entries of a directory, sorted by name (symbolic links are listed, not followed).

        Raises:
            WorkspaceError: the path leaves the workspace, is missing, or is not a directory.
        """
        fd = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        norm = self.normalise(path)
        entries = []
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone since it was listed (e.g. another writer's temp file)
                    entries.append(DirEntry(name=entry.name, kind=_kind(st.st_mode),
                                            size=st.st_size))
        except OSError as exc:
            raise self._explain(exc, norm, path) from None
        finally:
            os.close(fd)
        return sorted(entries, key=lambda e: e.name)

    def resolve_dir(self, path: str, *, create: bool = False) -> Path:
        """The absolute path of a directory inside, for a subprocess's working directory.

        The directory is checked safely like any other path; the path returned is then checked
        to still name that same directory. A child process gets a path, not a descriptor, so a
        swap after this returns is beyond our reach: the sandbox the child runs in is what
        confines it.

        Args:
            path: the directory, relative to the root (``""`` or ``"."``: the root).
            create: make it (and its parents) when missing.

        Raises:
            WorkspaceError: the path leaves the workspace, is missing (and ``create`` is
                false), is not a directory, or changed while it was checked.
        """
        norm = self.normalise(path)
        fd = self._open_dir(norm, path, create=create)
        target = self.root if norm == "." else self.root / norm
        try:
            held = os.fstat(fd)
            try:
                now = os.stat(target)
            except OSError:
                now = None
        finally:
            os.close(fd)
        if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            raise WorkspaceError(f"{_quote(path)} changed while it was being checked")
        return target

    def fingerprint(self, path: str) -> tuple[int, ...] | None:
        """What is at ``path`` now, to tell later whether it changed: its mode, inode, size,
        modification and change times (a directory changes when entries come and go);
        ``None`` when nothing is there.

        Raises:
            WorkspaceError: the path is malformed or climbs out of the root.
        """
        norm = self.normalise(path)
        try:
            fd = self._resolve(norm, _O_PATH)
        except OSError as exc:  # missing; or (a link out, a loop) unreadable: that, as such
            return None if exc.errno in (errno.ENOENT, errno.ENOTDIR) else (-exc.errno,)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def exists(self, path: str) -> bool:
        """Whether ``path`` names something inside the workspace (following links as reads do).

        Raises:
            WorkspaceError: the path leaves the workspace (rather than answering False).
        """
        norm = self.normalise(path)
        try:
            os.close(self._resolve(norm, _O_PATH))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return False
            if exc.errno == errno.ENOTDIR:
                found = self._culprit(norm)
                if found is None or found[1] in (errno.ENOTDIR, errno.ENOENT):
                    return False
            raise self._explain(exc, norm, path) from None
        return True
