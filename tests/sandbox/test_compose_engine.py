"""Rendered compose files against the compose that exists here (Debian's Compose 1.29.2):
``docker-compose config`` accepts every one, and specs really come up and go down, leaving
nothing behind. Skipped locally without docker-compose / an engine (saying how to get them);
required in CI (engine.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.request import urlopen

import pytest
from hypothesis import HealthCheck, given, settings

from agenttree.cli import main
from agenttree.sandbox import compose, load_spec, parse_spec, sandbox_name
from agenttree.sandbox.base import dump_yaml
from agenttree.sandbox.images import PYTHON_IMAGE

from .engine import (
    NOTHING,
    compose_problem,
    engine_problem,
    leftovers,
    require,
    unique_case,
)
from .strategies import specs

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "plans" / "containers").glob("*.edn"))
EVERYTHING = '''
{:name "everything" :sut "app" :timeout-s 60
 :containers
 [{:name "app" :image "x/app:1" :workdir "/work" :cmd ["sh" "-c" "echo $HOME ${x '$$' \\"q\\""]
   :env {"PRICE" "$5" "EMPTY" ""} :depends-on ["db" "cache"] :network :internet
   :mounts [{:host "." :container "/work"} {:host "data" :container "/data" :read-only true}]
   :ports [{:container 80 :host 8080} 81] :resources {:cpus 0.5 :memory "512Mi"}}
  {:name "db" :image "x/db:1" :ports [5432]
   :health {:cmd ["pg_isready"] :interval-ms 250 :retries 3 :timeout-ms 1500
            :start-period-ms 1000}}
  {:name "cache" :image "x/cache:1"}]}'''


def docker_compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *args], capture_output=True, text=True,
                          timeout=300)


def render(spec: str, tmp_path: Path, capsys, case: str = "case") -> tuple[Path, str]:
    """``agenttree containers compose SPEC`` into a file: the file and its project name."""
    (tmp_path / "data").mkdir(exist_ok=True)
    assert main(["containers", "compose", spec, "--project", str(tmp_path), "--case", case]) == 0
    path = tmp_path / "compose.yaml"
    path.write_text(capsys.readouterr().out)
    return path, sandbox_name(load_spec(spec), case)


@pytest.fixture(autouse=True)
def compose_here() -> None:
    require(compose_problem())


@pytest.mark.parametrize("spec", [*EXAMPLES, "EVERYTHING"], ids=lambda p: getattr(p, "stem", p))
def test_docker_compose_accepts_the_rendered_file(spec, tmp_path, capsys) -> None:
    if spec == "EVERYTHING":
        spec = tmp_path / "everything.edn"
        spec.write_text(EVERYTHING)
    path, project = render(str(spec), tmp_path, capsys)
    done = docker_compose("-p", project, "-f", str(path), "config", "-q")
    assert done.returncode == 0, done.stderr


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=specs())
def test_docker_compose_accepts_the_file_of_any_valid_spec(text: str, tmp_path) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(dump_yaml(compose.render(parse_spec(text), project=str(tmp_path))))
    done = docker_compose("-p", "at-any", "-f", str(path), "config", "-q")
    assert done.returncode == 0, f"{done.stderr}\n{path.read_text()}"


def test_a_spec_comes_up_answers_and_goes_down_leaving_nothing(tmp_path, capsys) -> None:
    require(engine_problem())
    path, project = render(str(ROOT / "plans" / "containers" / "hello-docker.edn"), tmp_path,
                           capsys, unique_case("compose"))
    files = ["-p", project, "-f", str(path)]
    try:
        up = docker_compose(*files, "up", "-d")  # starts sut once web is healthy
        assert up.returncode == 0, up.stderr
        (sut,) = docker_compose(*files, "ps", "-q", "sut").stdout.split()
        waited = subprocess.run(["docker", "wait", sut], capture_output=True, text=True,
                                timeout=120)
        assert waited.stdout.strip() == "0"
        assert "sut got HTTP 200" in docker_compose(*files, "logs", "--no-color", "sut").stdout
        address = docker_compose(*files, "port", "web", "8765").stdout.strip()
        assert address.startswith("127.0.0.1:")
        with urlopen(f"http://{address}/", timeout=30) as page:
            assert page.status == 200
    finally:
        down = docker_compose(*files, "down", "-v")
    assert down.returncode == 0, down.stderr
    assert leftovers(project) == NOTHING


def test_compose_takes_the_specs_strings_literally(tmp_path, capsys) -> None:
    require(engine_problem())
    spec = tmp_path / "literal.edn"
    spec.write_text(f'{{:containers [{{:name "sut" :image "{PYTHON_IMAGE.name}" '
                    ':env {"PRICE" "$5"} :cmd ["sh" "-c" "echo \\"$PRICE\\" \'${literal}\'"]}]}')
    path, project = render(str(spec), tmp_path, capsys, unique_case("literal"))
    files = ["-p", project, "-f", str(path)]
    try:
        up = docker_compose(*files, "up", "--abort-on-container-exit", "--exit-code-from", "sut")
        assert up.returncode == 0, up.stderr
        assert docker_compose(*files, "logs", "--no-color", "sut").stdout.rstrip().endswith(
            "| $5 ${literal}")
    finally:
        down = docker_compose(*files, "down", "-v")
    assert down.returncode == 0, down.stderr
    assert leftovers(project) == NOTHING

