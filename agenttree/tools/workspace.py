"""Race-free file access confined to a run's workspace directory.

Paths come from a model, so they are untrusted. ``realpath`` then ``open`` is racy (a directory
can be swapped for a symlink in between), so every access resolves relative to a directory file
descriptor of the workspace root:

* with Linux ``openat2(2)`` and ``RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`` where the kernel has
  it: the kernel refuses, atomically, any resolution that leaves the root (``..``, absolute
  symlinks, ``/proc/self/root`` tricks), while symlinks that stay inside keep working;
* otherwise by walking the path one component at a time with ``O_NOFOLLOW`` from the root's
  descriptor: every symlink is refused.

Paths are first normalised lexically; one that still starts with ``..`` is refused. All methods
block (callers run them in a worker thread).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import posixpath
import secrets
import stat
from pathlib import Path

import attrs

from ..errors import WorkspaceError

_SYS_OPENAT2 = 437  # the same number on x86_64 and aarch64
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _openat2(dir_fd: int, path: str, flags: int, mode: int = 0) -> int:
    if not flags & os.O_CREAT:
        mode = 0  # openat2 refuses a mode without O_CREAT
    how = _OpenHow(flags | os.O_CLOEXEC, mode, _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS)
    fd = _libc().syscall(_SYS_OPENAT2, ctypes.c_int(dir_fd), path.encode(),
                         ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return fd


@functools.cache
def openat2_available() -> bool:
    """Whether this kernel (and seccomp policy) lets us use ``openat2``."""
    try:
        fd = _openat2(os.open("/", os.O_RDONLY | os.O_DIRECTORY), ".", os.O_RDONLY)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    return True


@attrs.frozen(kw_only=True)
class DirEntry:
    """One entry of :meth:`Workspace.list_dir`."""

    name: str
    kind: str  # "file" | "dir" | "symlink" | "other"
    size: int


class Workspace:
    """The run's workspace: every path is resolved inside ``root`` or refused.

    Args:
        root: an existing directory.
        use_openat2: force a strategy (tests); default: openat2 where available.
    """

    def __init__(self, root: str | os.PathLike[str], *, use_openat2: bool | None = None) -> None:
        self.root = Path(root).resolve()
        self._fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.openat2 = openat2_available() if use_openat2 is None else use_openat2

    def close(self) -> None:
        """Release the root's descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- resolution ------------------------------------------------------------------------

    @staticmethod
    def normalise(path: str) -> str:
        """Lexical normal form of a workspace path; refuses what cannot be inside."""
        if not isinstance(path, str):
            raise WorkspaceError(f"path must be a string, got {type(path).__name__}")
        if "\x00" in path:
            raise WorkspaceError(f"path {path!r} contains a NUL byte")
        if path.startswith("/"):
            raise WorkspaceError(f'path "{path}" is absolute; paths are relative to the '
                                 "workspace")
        norm = posixpath.normpath(path) if path else "."
        if norm == ".." or norm.startswith("../"):
            raise WorkspaceError(f'path "{path}" leaves the workspace')
        return norm

    def _open(self, path: str, flags: int, mode: int = 0o644, *, shown: str | None = None,
              dir_fd: int | None = None) -> int:
        norm = self.normalise(path)
        base = self._fd if dir_fd is None else dir_fd
        try:
            if self.openat2:
                return _openat2(base, norm, flags, mode)
            return self._walk(base, norm, flags, mode)
        except OSError as exc:
            raise self._explain(exc, shown or path) from None

    def _walk(self, base: int, norm: str, flags: int, mode: int) -> int:
        parts = [p for p in norm.split("/") if p not in ("", ".")]
        fd = os.dup(base)
        try:
            for part in parts[:-1]:
                next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                  | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = next_fd
            if not parts:
                return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=fd)
            return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        finally:
            os.close(fd)

    def _explain(self, exc: OSError, path: str) -> WorkspaceError:
        code = exc.errno
        if code == errno.EXDEV:
            return WorkspaceError(f'path "{path}" resolves outside the workspace '
                                  "(through .. or a symbolic link)")
        if code in (errno.ELOOP, errno.EMLINK):
            return WorkspaceError(f'"{path}" goes through a symbolic link, which is not '
                                  "followed here" if not self.openat2 else
                                  f'"{path}" is a symbolic link loop or leads outside')
        if code == errno.ENOENT:
            return WorkspaceError(f'"{path}" does not exist')
        if code == errno.ENOTDIR:
            return WorkspaceError(f'"{path}": a part of it is not a directory (or is a '
                                  "symbolic link)")
        if code == errno.EISDIR:
            return WorkspaceError(f'"{path}" is a directory, not a file')
        return WorkspaceError(f'"{path}": {exc.strerror}')

    def _open_dir(self, path: str, *, create: bool) -> int:
        flags = os.O_RDONLY | os.O_DIRECTORY
        try:
            return self._open(path, flags)
        except WorkspaceError:
            if not create:
                raise
        fd = os.dup(self._fd)
        try:
            for part in [p for p in self.normalise(path).split("/") if p not in ("", ".")]:
                try:
                    os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise self._explain(exc, path) from None
                next_fd = self._open(part, flags, shown=path, dir_fd=fd)
                os.close(fd)
                fd = next_fd
            return fd
        except BaseException:
            os.close(fd)
            raise

    # --- operations ------------------------------------------------------------------------

    def read_bytes(self, path: str, limit: int = 1_000_000) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes of a file, and whether it was longer."""
        fd = self._open(path, os.O_RDONLY)
        try:
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                raise WorkspaceError(f'"{path}" is a directory, not a file')
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            data = b"".join(chunks)
            return data[:limit], len(data) > limit
        finally:
            os.close(fd)

    def write_bytes(self, path: str, data: bytes, *, make_parents: bool = True) -> int:
        """Replace a file atomically (temp file + rename in the same directory)."""
        norm = self.normalise(path)
        parent, name = posixpath.split(norm)
        if name in ("", ".", ".."):
            raise WorkspaceError(f'"{path}" is not a file path')
        dir_fd = self._open_dir(parent or ".", create=make_parents)
        tmp = f".{name}.tmp-{secrets.token_hex(4)}"
        try:
            try:
                if stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode):
                    raise WorkspaceError(f'"{path}" is a symbolic link; not writing through it')
                if stat.S_ISDIR(os.lstat(name, dir_fd=dir_fd).st_mode):
                    raise WorkspaceError(f'"{path}" is a directory, not a file')
            except FileNotFoundError:
                pass
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return len(data)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        finally:
            os.close(dir_fd)

    def list_dir(self, path: str = ".") -> list[DirEntry]:
        """The entries of a directory, sorted by name."""
        fd = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            entries = []
            with os.scandir(fd) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # gone since it was listed (e.g. another writer's temp file)
                    kind = ("symlink" if stat.S_ISLNK(st.st_mode) else
                            "dir" if stat.S_ISDIR(st.st_mode) else
                            "file" if stat.S_ISREG(st.st_mode) else "other")
                    entries.append(DirEntry(name=entry.name, kind=kind, size=st.st_size))
            return sorted(entries, key=lambda e: e.name)
        finally:
            os.close(fd)

    def resolve_dir(self, path: str, *, create: bool = False) -> Path:
        """Check that ``path`` is a directory inside (creating it if asked); its absolute path.

        For a subprocess's working directory, which can only be given as a path.
        """
        os.close(self._open_dir(path, create=create))
        norm = self.normalise(path)
        return self.root if norm == "." else self.root / norm

    def exists(self, path: str) -> bool:
        """Whether ``path`` names something inside the workspace."""
        try:
            os.close(self._open(path, os.O_PATH))
        except WorkspaceError as exc:
            if "does not exist" in str(exc):
                return False
            raise
        return True
