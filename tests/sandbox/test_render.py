"""Rendering specs to compose and Kubernetes: golden files, and the manifests validated offline.

Regenerate the golden files after an intended change with ``UPDATE_GOLDEN=1 pytest <this>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree.sandbox import compose, kubernetes, load_spec, parse_spec
from agenttree.sandbox.base import dump_yaml
from agenttree.sandbox.spec import SpecError

from .strategies import specs

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
    assert services["db"]["networks"] == ["internal", "ports"]  # it publishes 5432
    assert services["worker"]["networks"] == ["internal"]
    assert services["web"]["volumes"][0]["source"] == "/srv/p/web"
    assert services["web"]["volumes"][1]["read_only"] is True
    assert services["web"]["mem_limit"] == 512 * 1024 * 1024


def test_compose_publishes_ports_on_loopback_and_takes_strings_literally() -> None:
    spec = parse_spec('{:containers [{:name "a" :image "x" :ports [{:container 80 :host 8080} 81]'
                      ' :cmd ["sh" "-c" "echo $HOME ${x"] :env {"PRICE" "$5"}}'
                      ' {:name "b" :image "x" :ports [90] :network :internet}'
                      ' {:name "c" :image "x"}]}')
    data = compose.render(spec)
    assert "name" not in data  # Compose 1.29 refuses a top-level name; -p gives it
    services = data["services"]
    assert services["a"]["ports"] == ["127.0.0.1:8080:80", "127.0.0.1::81"]
    assert services["b"]["ports"] == ["127.0.0.1::90"]
    assert [services[n]["networks"] for n in "abc"] == [["internal", "ports"],
                                                         ["internal", "egress"], ["internal"]]
    assert data["networks"]["ports"]["driver_opts"] == {
        "com.docker.network.bridge.enable_ip_masquerade": "false"}
    assert "internal" not in data["networks"]["ports"]
    assert data["networks"]["internal"]["internal"] is True
    assert services["a"]["command"] == ["sh", "-c", "echo $$HOME $${x"]
    assert services["a"]["environment"]["PRICE"] == "$$5"


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

@settings(max_examples=40, deadline=None)
@given(text=specs(), case=st.text(max_size=30))
def test_every_valid_spec_renders_to_valid_manifests(text: str, case: str) -> None:
    spec = parse_spec(text)
    for obj in kubernetes.render(spec, case=case):
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)
    assert yaml.safe_load(dump_yaml(compose.render(spec, case=case)))["services"]
