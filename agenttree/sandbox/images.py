"""Container images built from Debian packages, for a docker engine that cannot pull.

``agenttree containers image NAME --packages P...`` bootstraps a minimal Debian
(``debootstrap --variant=minbase --include=P,... SUITE DIR MIRROR``, from the Debian mirror in
this machine's apt sources) and imports it (``tar -C DIR -c . | docker import - NAME``). No
image registry is involved, only Debian's package mirror.

The image carries a label with a hash of what it was built from (suite, variant, packages and
:data:`RECIPE_VERSION`); asking again for an image that exists with the same hash does nothing,
so CI and the tests can ask for their images every time and pay for a build only once. The
image's default command is ``sleep infinity``: a container of a spec without ``:cmd`` idles and
is used through ``exec``. Building needs root (debootstrap) and takes a minute or two.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import attrs

from ..errors import AgentTreeError, UserError
from .names import DEFAULT_SUITE

RECIPE_VERSION = 1
"""Part of every image's hash: bump it when the build steps change, and images are rebuilt."""
INPUTS_LABEL = "agenttree.io/image-inputs"
PACKAGES_LABEL = "agenttree.io/image-packages"
VARIANT = "minbase"
FALLBACK_MIRROR = "http://deb.debian.org/debian"
APT_DIR = Path("/etc/apt")

PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
"""A Debian package name (Debian policy 5.6.1)."""
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?$")
"""An image name docker accepts (``repo/name:tag``; no registry host)."""
SUITE = re.compile(r"^[a-z][a-z0-9-]*$")

_TRIM = ("var/cache/apt/archives", "var/lib/apt/lists")
"""Directories of the bootstrapped tree whose contents are download caches, not the system."""
_BUILD_TIMEOUT_S = 3600
_DOCKER_TIMEOUT_S = 120


class ImageError(AgentTreeError):
    """An image could not be built (the message says which step failed, with its output)."""


@attrs.frozen(kw_only=True)
class ImageRecipe:
    """What an image is built from: a minbase Debian ``suite`` plus ``packages``."""

    name: str
    packages: tuple[str, ...] = ()
    suite: str = DEFAULT_SUITE

    @property
    def inputs(self) -> str:
        """A hash of everything the image's contents depend on (not where packages came from)."""
        data = {"recipe": RECIPE_VERSION, "suite": self.suite, "variant": VARIANT,
                "packages": list(self.packages)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def command(self) -> str:
        """The ``agenttree`` command line that builds this image."""
        suite = "" if self.suite == DEFAULT_SUITE else f" --suite {self.suite}"
        packages = f" --packages {' '.join(self.packages)}" if self.packages else ""
        return f"agenttree containers image {self.name}{packages}{suite}"


def recipe(name: str, packages: Iterable[str] = (), suite: str = DEFAULT_SUITE) -> ImageRecipe:
    """A validated recipe; ``packages`` may be comma-separated, in any order, repeated.

    Raises:
        UserError: a bad image name, package name or suite.
    """
    if not IMAGE.match(name):
        raise UserError(f"image name {name!r}: expected lower-case letters, digits and "
                        "separators, like agenttree/python:bookworm")
    names = sorted({p.strip() for item in packages for p in item.split(",") if p.strip()})
    for package in names:
        if not PACKAGE.match(package):
            raise UserError(f"--packages: {package!r} is not a Debian package name")
    if not SUITE.match(suite):
        raise UserError(f"--suite {suite!r}: expected a Debian suite like bookworm")
    return ImageRecipe(name=name, packages=tuple(names), suite=suite)


PYTHON_IMAGE = recipe("agenttree/python:bookworm", ["python3", "python3-pytest"])
REDIS_IMAGE = recipe("agenttree/redis:bookworm", ["redis-server"])
CODING_IMAGE = recipe("agenttree/coding:bookworm",
                      ["python3", "python-is-python3", "python3-trio", "python3-trio-websocket",
                       "python3-httpx", "socat"])
"""Where ``agenttree bench coding --backend docker`` runs a case's agent and its program: the
packages the coding suite promises, and socat to carry the program's port out of the
container (docs/bench.md)."""
EXAMPLE_IMAGES = (PYTHON_IMAGE, REDIS_IMAGE, CODING_IMAGE)
"""The images plans/containers/redis-sut.edn and hello-docker.edn use (the tests and the
benchmarks too), and the coding suite's; .ci/docker.sh builds them."""


def debian_mirror(suite: str = DEFAULT_SUITE, apt_dir: Path = APT_DIR) -> str:
    """The first Debian mirror this machine's apt sources use for ``suite`` itself (not
    ``-updates`` or ``-security``), in one-line ``sources.list`` or deb822 ``.sources`` form;
    :data:`FALLBACK_MIRROR` when none does (or the files cannot be read)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            found = _deb822_mirror(text, suite)
        elif path.suffix == ".list":
            found = _one_line_mirror(text, suite)
        else:
            found = None
        if found:
            return found
    return FALLBACK_MIRROR


def _one_line_mirror(text: str, suite: str) -> str | None:
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite and _is_url(words[1]):
            return words[1].rstrip("/")
    return None


def _deb822_mirror(text: str, suite: str) -> str | None:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            for uri in fields.get("uris", "").split():
                if _is_url(uri):
                    return uri.rstrip("/")
    return None


def _is_url(text: str) -> bool:
    return re.match(r"^https?://[^\s/]+", text) is not None


def image_labels(name: str, docker: str = "docker") -> dict[str, str] | None:
    """The labels of image ``name`` on the engine (``None``: there is no such image).

    Raises:
        UserError: docker is not installed, or no engine answers.
    """
    if shutil.which(docker) is None:
        raise UserError(f"{docker} is not installed here (Debian: apt-get install docker.io)")
    done = _run([docker, "image", "inspect", "--format", "{{json .Config.Labels}}", name],
                timeout=_DOCKER_TIMEOUT_S)
    if done.returncode != 0:
        if "no such image" in done.stderr.lower():
            return None
        raise UserError(f"docker image inspect failed: {_last_line(done.stderr)} (does an "
                        "engine answer `docker info`?)")
    return json.loads(done.stdout or "null") or {}


def is_current(image: ImageRecipe, docker: str = "docker") -> bool:
    """Whether ``image`` exists, built from the same inputs."""
    labels = image_labels(image.name, docker)
    return labels is not None and labels.get(INPUTS_LABEL) == image.inputs


def build_image(image: ImageRecipe, *, mirror: str, docker: str = "docker",
                debootstrap: str = "debootstrap", force: bool = False,
                say: Callable[[str], object] = print) -> bool:
    """Build ``image`` unless it is current (or ``force``): True when it built one.

    Blocks for the whole build (a minute or two); the temporary tree is removed on every exit.

    Raises:
        UserError: not root, debootstrap or docker missing, no engine answers, bad mirror.
        ImageError: debootstrap or docker import failed (with the end of its output).
    """
    if not _is_url(mirror):
        raise UserError(f"--mirror {mirror!r}: expected an http:// or https:// URL")
    labels = image_labels(image.name, docker)  # also: is there an engine to import into?
    if not force and labels is not None and labels.get(INPUTS_LABEL) == image.inputs:
        say(f"image {image.name} is up to date ({_describe(image)})")
        return False
    if shutil.which(debootstrap) is None:
        raise UserError(f"{debootstrap} is not installed here (Debian: apt-get install "
                        "debootstrap)")
    if os.geteuid() != 0:
        raise UserError("building an image runs debootstrap, which needs root: run "
                        f"`sudo {image.command()}`")
    say(f"building {image.name} ({_describe(image)}) from {mirror}; this takes a minute or two")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="agenttree-image-", dir=_work_dir()) as work:
        root = Path(work).resolve() / "root"
        argv = [debootstrap, f"--variant={VARIANT}", image.suite, str(root), mirror]
        if image.packages:
            argv.insert(2, f"--include={','.join(image.packages)}")
        try:
            done = _run(argv, timeout=_BUILD_TIMEOUT_S)
            if done.returncode != 0:
                raise ImageError(f"debootstrap failed (exit {done.returncode}); its last "
                                 "lines:\n" + _tail(done.stdout + done.stderr))
            for directory in _TRIM:
                _empty(root / directory)
            _import(image, root, docker)
        finally:
            _unmount_under(root)
    say(f"built {image.name} in {time.monotonic() - started:.0f} s")
    return True


def _import(image: ImageRecipe, root: Path, docker: str) -> None:
    """``tar -C root -c . | docker import`` with the labels, environment and default command."""
    changes = [f"LABEL {INPUTS_LABEL}={image.inputs}",
               f"LABEL {PACKAGES_LABEL}={','.join(image.packages) or '-'}",
               "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "ENV LANG=C.UTF-8",
               'CMD ["sleep", "infinity"]']
    argv = [docker, "import", *(a for c in changes for a in ("--change", c)), "-", image.name]
    tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        done = _run(argv, stdin=tar.stdout, timeout=_BUILD_TIMEOUT_S)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar_code = tar.wait()
        assert tar.stderr is not None
        tar_errors = tar.stderr.read().decode(errors="replace")
        tar.stderr.close()
    if done.returncode != 0:  # first: a failed import also breaks tar's pipe
        raise ImageError(f"docker import failed (exit {done.returncode}): "
                         f"{_last_line(done.stderr)}")
    if tar_code != 0:
        raise ImageError(f"tar of the bootstrapped tree failed (exit {tar_code}): "
                         f"{_last_line(tar_errors)}")


def _run(argv: list[str], *, timeout: float, stdin: IO[bytes] | int = subprocess.DEVNULL
         ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, stdin=stdin, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ImageError(f"{argv[0]} {argv[1]} did not finish within {timeout:g} s") from None


def _unmount_under(root: Path) -> None:
    """Unmount whatever is mounted inside ``root``, deepest first: a debootstrap that failed or
    was killed can leave the host's /proc, /sys or device files mounted in the tree, and
    removing the tree must not reach into them."""
    try:
        table = Path("/proc/self/mounts").read_text()
    except OSError:
        return
    points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[1])
              for line in table.splitlines() if len(line.split()) > 1]
    inside = [p for p in points if p == str(root) or p.startswith(f"{root}/")]
    for point in sorted(inside, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _empty(directory: Path) -> None:
    """Remove the files under ``directory``, keeping it (and its subdirectories)."""
    for path in directory.rglob("*"):
        if path.is_file() or path.is_symlink():
            path.unlink()


def _work_dir() -> str:
    # /var/tmp is on disk where /tmp may be a small tmpfs; the tree is a few hundred MB.
    return "/var/tmp" if os.path.isdir("/var/tmp") else tempfile.gettempdir()


def _describe(image: ImageRecipe) -> str:
    return f"Debian {image.suite} {VARIANT} + {' '.join(image.packages) or 'nothing else'}"


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "(no output)"


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"
