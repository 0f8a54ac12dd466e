"""``agenttree containers image``: images from Debian packages, built once, without a registry.

The build runs a fake ``debootstrap`` (a real one takes minutes; CI runs the real one in
.ci/docker.sh) and imports into the fake ``docker`` and, when one answers, the real engine.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from agenttree.cli import main
from agenttree.sandbox.images import (
    EXAMPLE_IMAGES,
    FALLBACK_MIRROR,
    INPUTS_LABEL,
    build_image,
    debian_mirror,
    image_labels,
    recipe,
)

from .engine import docker, engine_problem, require

NAME = f"missing/img-{os.getpid()}:1"
"""The image the build tests make (the fake docker has every image but those named missing...,
until imported)."""


def test_a_recipe_is_the_same_whatever_the_order_commas_or_repeats() -> None:
    a = recipe("x/y:1", ["redis-server,python3", "python3"])
    b = recipe("x/y:1", ["python3", " redis-server"])
    assert a == b and a.packages == ("python3", "redis-server") and a.inputs == b.inputs
    assert recipe("x/y:1", ["python3"]).inputs != a.inputs
    assert recipe("x/y:1", a.packages, suite="trixie").inputs != a.inputs
    assert recipe("other/name:2", a.packages).inputs == a.inputs  # the name is not an input
    assert a.command() == "agenttree containers image x/y:1 --packages python3 redis-server"
    assert recipe("x/y:1", [], "trixie").command() == \
        "agenttree containers image x/y:1 --suite trixie"


def _apt(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        path = apt / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return apt


MACHINE = """Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
"""


@pytest.mark.parametrize(("files", "expected"), [
    ({"sources.list.d/debian.sources": MACHINE}, "http://deb.debian.org/debian"),
    ({"sources.list": "# deb http://old.example/debian bookworm main\n"
                      "deb http://security.debian.org/debian-security bookworm-security main\n"
                      "deb [arch=amd64 signed-by=/k.gpg] https://mirror.example/debian/ bookworm "
                      "main contrib\n"}, "https://mirror.example/debian"),
    ({"sources.list.d/a.sources": "Types: deb\nURIs: http://off.example/d\nSuites: bookworm\n"
                                  "Enabled: no\n\n" + MACHINE}, "http://deb.debian.org/debian"),
    ({"sources.list.d/cloud.list": "deb https://packages.example/apt cloud-sdk-bookworm main\n",
      "sources.list.d/x.sources": "Types: deb-src\nURIs: http://src.example/\nSuites: bookworm\n"},
     FALLBACK_MIRROR),
    ({"sources.list": b"\xff\xfe\x00 not text at all \x00\n:::\n[", "sources.list.d/b.sources":
      "Types deb\nURIs:\nSuites: bookworm\n"}, FALLBACK_MIRROR),
    ({"sources.list.d/notes.txt": "deb http://ignored.example/debian bookworm main\n"},
     FALLBACK_MIRROR),
])
def test_the_mirror_comes_from_this_machines_apt_sources(tmp_path, files, expected) -> None:
    assert debian_mirror("bookworm", _apt(tmp_path, files)) == expected


def test_no_apt_sources_at_all_means_debians_own_mirror(tmp_path) -> None:
    assert debian_mirror("bookworm", tmp_path / "nowhere") == FALLBACK_MIRROR


@pytest.mark.parametrize(("argv", "message"), [
    (["Bad/Name"], "image name 'Bad/Name'"),
    (["x/y:1", "--packages", "Redis-Server"], "'Redis-Server' is not a Debian package name"),
    (["x/y:1", "--packages", "a;rm -rf /"], "'a;rm -rf /' is not a Debian package name"),
    (["x/y:1", "--suite", "../etc"], "--suite '../etc'"),
    (["x/y:1", "--mirror", "ftp://mirror.example/debian"], "--mirror 'ftp://mirror.example"),
    (["x/y:1", "--mirror", "/srv/mirror"], "expected an http:// or https:// URL"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys) -> None:
    assert main(["containers", "image", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_without_debootstrap_or_root_it_says_what_to_do(fake_docker, fake_debootstrap,
                                                         monkeypatch, capsys) -> None:
    argv = ["containers", "image", "missing/img:1", "--packages", "python3"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(argv) == 2
    assert ("needs root: run `sudo agenttree containers image missing/img:1 --packages python3`"
            in capsys.readouterr().err)
    monkeypatch.setenv("PATH", str(fake_docker.home / "bin"))
    assert main(argv) == 2
    assert "debootstrap is not installed here" in capsys.readouterr().err
    assert not fake_debootstrap.exists()


def test_without_docker_it_says_so(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["containers", "image", "x/y:1"]) == 2
    assert "docker is not installed here" in capsys.readouterr().err


def test_without_an_engine_it_says_so_before_building(fake_docker, fake_debootstrap,
                                                      monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "image:9")  # as when no dockerd answers
    assert main(["containers", "image", "x/y:1", "--force"]) == 2
    err = capsys.readouterr().err
    assert "docker image inspect failed" in err and "does an engine answer `docker info`" in err
    assert not fake_debootstrap.exists(), "nothing built for an engine that is not there"


# --- building: the fake docker, and the real engine when one answers --------------------------

@pytest.fixture(params=["docker-fake", "docker"])
def flavour(request):
    """Which docker the build imports into; the real one's test image is removed after."""
    if request.param == "docker-fake":
        request.getfixturevalue("fake_docker")
        yield request.param
        return
    require(engine_problem())
    yield request.param
    subprocess.run(["docker", "rmi", "-f", NAME], capture_output=True, check=False)


def _files(flavour: str, fake_docker_home: Path | None) -> set[str]:
    """The paths in image NAME."""
    if flavour == "docker-fake":
        assert fake_docker_home is not None
        state = json.loads((fake_docker_home / "state.json").read_text())
        return {n.removeprefix("./") for n in state["images"][NAME]["files"]}
    box = docker("create", NAME).stdout.strip()
    try:
        tar = subprocess.run(["docker", "export", box], capture_output=True, check=True).stdout
    finally:
        docker("rm", box)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        return set(archive.getnames())


def _calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_an_image_is_built_once_then_up_to_date(flavour, fake_debootstrap, tmp_path,
                                                capsys) -> None:
    home = tmp_path / "fake-docker" if flavour == "docker-fake" else None
    argv = ["containers", "image", NAME, "--packages", "redis-server,python3",
            "--mirror", "http://mirror.example/debian"]
    assert main(argv) == 0
    assert f"building {NAME} (Debian bookworm minbase + python3 redis-server)" in \
        capsys.readouterr().out
    (call,) = _calls(fake_debootstrap)
    assert call[:3] == ["--variant=minbase", "--include=python3,redis-server", "bookworm"]
    assert call[4] == "http://mirror.example/debian"
    assert not Path(call[3]).parent.exists(), "the bootstrapped tree is removed"
    files = _files(flavour, home)
    assert "etc/os-release" in files
    assert not [f for f in files if f.endswith((".deb", "_Packages"))], "caches left out"
    labels = image_labels(NAME)
    assert labels is not None
    assert labels[INPUTS_LABEL] == recipe(NAME, ["python3", "redis-server"]).inputs

    assert main([*argv[:3], "--packages", "python3", "redis-server"]) == 0  # same inputs
    assert f"image {NAME} is up to date" in capsys.readouterr().out
    assert len(_calls(fake_debootstrap)) == 1, "nothing built the second time"

    assert main([*argv, "--force"]) == 0
    assert main([*argv[:3], "--packages", "python3"]) == 0  # other inputs: built again
    assert len(_calls(fake_debootstrap)) == 3
    assert image_labels(NAME)[INPUTS_LABEL] == recipe(NAME, ["python3"]).inputs


def test_a_failed_debootstrap_is_exit_1_with_its_last_lines(flavour, fake_debootstrap,
                                                             monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_DEBOOTSTRAP_FAIL", "1")
    assert main(["containers", "image", NAME, "--packages", "no-such-package"]) == 1
    err = capsys.readouterr().err
    assert "debootstrap failed (exit 1); its last lines:" in err
    assert "E: Couldn't find these debs: no-such-package" in err and "Traceback" not in err
    (call,) = _calls(fake_debootstrap)
    assert not Path(call[3]).parent.exists()
    assert image_labels(NAME) is None


def test_a_tree_left_mounted_by_debootstrap_is_unmounted_then_removed(
        fake_docker, fake_debootstrap, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FAKE_DEBOOTSTRAP_MOUNT", "1")
    monkeypatch.setenv("FAKE_DEBOOTSTRAP_FAIL", "1")
    assert main(["containers", "image", NAME]) == 1
    assert "debootstrap failed (exit 1)" in capsys.readouterr().err
    (call,) = _calls(fake_debootstrap)
    assert not Path(call[-2]).parent.exists()
    assert call[-2] not in Path("/proc/self/mounts").read_text()


def test_the_test_images_are_current_so_asking_again_builds_nothing(fake_debootstrap,
                                                                    capsys) -> None:
    """What CI's .ci/docker.sh asks for is what the tests use, and a second ask is free."""
    require(engine_problem())
    for image in EXAMPLE_IMAGES:
        assert build_image(image, mirror="http://unused.example/debian") is False
        assert f"image {image.name} is up to date" in capsys.readouterr().out
    assert not fake_debootstrap.exists()
