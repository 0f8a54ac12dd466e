"""Rendering specs to compose and Kubernetes: golden files, and the manifests validated offline.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest <this>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import edn_format
import kubernetes_validate
import pytest
import yaml
from edn_format import Keyword
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree.sandbox import compose, kubernetes, load_spec, parse_spec
from agenttree.sandbox.base import dump_yaml
from agenttree.sandbox.spec import SpecError

ROOT = Path(__file__).parents[2]
GOLDEN = Path(__file__).parent / "golden"
SPECS = ["redis-sut", "web-internet"]
K8S_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs (UPDATE_GOLDEN=1 to accept)"


@pytest.mark.parametrize("spec_name", SPECS)
def test_compose_golden(spec_name: str) -> None:
    spec = load_spec(ROOT / "plans" / "containers" / f"{spec_name}.edn")
    _golden(f"{spec_name}.compose.yaml", dump_yaml(compose.render(spec, case="case-1")))


@pytest.mark.parametrize("spec_name", SPECS)
def test_kubernetes_golden(spec_name: str) -> None:
    spec = load_spec(ROOT / "plans" / "containers" / f"{spec_name}.edn")
    _golden(f"{spec_name}.k8s.yaml", dump_yaml(*kubernetes.render(spec, case="case-1")))


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("spec_name", SPECS)
def test_kubernetes_manifests_validate_strictly(spec_name: str, version: str) -> None:
    spec = load_spec(ROOT / "plans" / "containers" / f"{spec_name}.edn")
    for obj in kubernetes.render(spec, case="Case 1/Ünïcode"):
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_validator_would_catch_a_mistake() -> None:
    job = kubernetes.render(parse_spec('{:containers [{:name "a" :image "x"}]}'))[0]
    job["spec"]["template"]["spec"]["containers"][0]["comand"] = ["oops"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSIONS[-1], strict=True)


def test_compose_semantics() -> None:
    spec = load_spec(ROOT / "plans" / "containers" / "web-internet.edn")
    services = compose.render(spec, project="/srv/p")["services"]
    assert services["web"]["depends_on"] == {"db": {"condition": "service_healthy"},
                                             "worker": {"condition": "service_started"}}
    assert services["web"]["networks"] == ["internal", "egress"]
    assert services["db"]["networks"] == ["internal"]
    assert services["web"]["volumes"][0]["source"] == "/srv/p/web"
    assert services["web"]["volumes"][1]["read_only"] is True
    assert services["web"]["mem_limit"] == 512 * 1024 * 1024


def test_kubernetes_semantics() -> None:
    spec = load_spec(ROOT / "plans" / "containers" / "redis-sut.edn")
    job, policy = kubernetes.render(spec, case="c")
    pod = job["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["sut"]
    (redis,) = pod["initContainers"]
    assert redis["restartPolicy"] == "Always"
    assert redis["startupProbe"]["exec"]["command"] == ["redis-cli", "ping"]
    assert redis["startupProbe"]["failureThreshold"] == 20
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["activeDeadlineSeconds"] == 3600
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    assert policy["kind"] == "NetworkPolicy"
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= \
        job["spec"]["template"]["metadata"]["labels"].items()
    # deterministic names: the same case renders the same objects
    assert kubernetes.render(spec, case="c") == [job, policy]
    assert kubernetes.render(spec, case="d")[0]["metadata"]["name"] != job["metadata"]["name"]
    internet = load_spec(ROOT / "plans" / "containers" / "web-internet.edn")
    assert [o["kind"] for o in kubernetes.render(internet)] == ["Job"]


@pytest.mark.parametrize("render", [compose.render, kubernetes.render])
def test_images_are_required_outside_the_local_backend(render) -> None:
    spec = parse_spec('{:containers [{:name "a" :image "x"}\n {:name "b"}]}', "s.edn")
    with pytest.raises(SpecError, match=r"s\.edn:2: :image: container \"b\" has no :image"):
        render(spec)


def test_golden_files_are_yaml_and_small() -> None:
    for path in GOLDEN.iterdir():
        assert path.stat().st_size < 8000
        assert list(yaml.safe_load_all(path.read_text()))


# --- property: every valid spec renders to manifests Kubernetes accepts -----------------------

NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
CONTAINER = st.fixed_dictionaries({
    "image": st.sampled_from(["redis:7", "python:3.11", "ghcr.io/x/y@sha256:" + "a" * 64]),
}, optional={
    "cmd": st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3),
    "workdir": st.sampled_from(["/work", "/srv/app"]),
    "env": st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True),
                           st.text(max_size=8), max_size=3),
    "ports": st.lists(st.integers(1, 65535), max_size=3, unique=True),
    "mounts": st.lists(st.fixed_dictionaries({
        "host": st.sampled_from([".", "src", "a/b"]),
        "container": st.sampled_from(["/work", "/data", "/x/y"]),
        "read-only": st.booleans()}), max_size=2, unique_by=lambda m: m["container"]),
    "health": st.fixed_dictionaries({"cmd": st.just(["true"])}, optional={
        "interval-ms": st.integers(1, 5000), "retries": st.integers(1, 50),
        "timeout-ms": st.integers(1, 9000), "start-period-ms": st.integers(0, 9000)}),
    "resources": st.fixed_dictionaries({}, optional={
        "cpus": st.sampled_from([0.25, 1, 2.5]),
        "memory": st.sampled_from(["64Mi", "2Gi", "1G", "500k"])}),
    "network": st.sampled_from(["none", "internet"]),
})


def _edn(value) -> str:
    if isinstance(value, Keyword):
        return f":{value.name}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return edn_format.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + " ".join(_edn(v) for v in value) + "]"
    # Spec keys (lower case) are keywords; environment variable names are strings.
    return "{" + " ".join(f"{':' + k if k != k.upper() else _edn(k)} {_edn(v)}"
                          for k, v in value.items()) + "}"


@st.composite
def specs(draw) -> str:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    containers = []
    for i, name in enumerate(names):
        c = dict(draw(CONTAINER), name=name)
        if "network" in c:
            c["network"] = Keyword(c["network"])
        c["depends-on"] = draw(st.lists(st.sampled_from(names[i + 1:]), unique=True)) \
            if i + 1 < len(names) else []
        containers.append(c)
    return "{:containers [" + " ".join(_edn(c) for c in containers) + "]}"


@settings(max_examples=40, deadline=None)
@given(text=specs(), case=st.text(max_size=30))
def test_every_valid_spec_renders_to_valid_manifests(text: str, case: str) -> None:
    spec = parse_spec(text)
    for obj in kubernetes.render(spec, case=case):
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert yaml.safe_load(dump_yaml(compose.render(spec, case=case)))["services"]
