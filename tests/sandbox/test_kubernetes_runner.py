"""The Kubernetes runner's contract with the API server, against a stub server on 127.0.0.1;
and the real thing on a cluster (marker ``cluster``) when KUBECONFIG points at one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.sandbox import Limits, SandboxError, parse_spec, sandbox_name
from agenttree.sandbox.kubernetes import KubernetesBackend, client_for

from .stub_kube import StubKube

SPEC = parse_spec('''
{:containers [{:name "sut" :image "python:3.11" :cmd ["python" "-c" "print(1)"]
               :depends-on ["redis"]}
              {:name "redis" :image "redis:7" :health {:cmd ["redis-cli" "ping"]}}]}''')
NAME = sandbox_name(SPEC, "c1")
JOBS = "/apis/batch/v1/namespaces/default/jobs"
POLICIES = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"


@pytest.fixture
def stub(stub_kube) -> StubKube:
    return stub_kube


@pytest.fixture
def events() -> list[ev.Event]:
    return []


@pytest.fixture
async def backend(stub, tmp_path, events):
    client = client_for(stub.url)
    yield KubernetesBackend(run_dir=tmp_path, emit=events.append, client=client,
                            request_timeout_s=5, retries=1, poll_s=0.02)
    await client.close()


async def _when_created_then(stub: StubKube, action) -> None:
    await stub.created.wait()
    action()


async def test_a_case_runs_as_a_job_and_is_deleted(stub, backend, events, nursery,
                                                   tmp_path) -> None:
    stub.logs[f"{NAME}/sut"] = "tests passed\n"
    nursery.start_soon(_when_created_then, stub, lambda: stub.start(NAME))
    with trio.fail_after(20):
        async with backend.open(SPEC, case="c1") as env:
            posted = [body for method, path, body in stub.requests if method == "POST"]
            assert [p["kind"] for p in posted] == ["NetworkPolicy", "Job"]  # isolation first
            assert posted == list(reversed(backend.render(SPEC, "c1")))  # the rendered payload
            assert posted[1]["metadata"]["labels"]["agenttree.io/sandbox"] == NAME
            stub.finish(NAME, succeeded=False, exit_code=3)
            result = await env.wait()
            assert result.exit_code == 3 and result.output == "tests passed\n"
    deleted = [path for method, path, _ in stub.requests if method == "DELETE"]
    assert deleted == [f"{JOBS}/{NAME}", f"{POLICIES}/{NAME}-isolated"]
    assert stub.objects == {}
    kinds = [(type(e).TYPE, e.name) for e in events]
    assert kinds[:4] == [("container/started", "redis"), ("container/started", "sut"),
                         ("container/healthy", "redis"), ("container/healthy", "sut")]
    exited = next(e for e in events if isinstance(e, ev.ContainerExited))
    assert exited.exit_code == 3
    saved = tmp_path / "containers" / NAME / "sut.log"
    assert saved.read_text() == "tests passed\n"


async def test_create_is_idempotent_after_a_failed_attempt(stub, backend, nursery) -> None:
    stale = backend.render(SPEC, "c1")[0]
    stale["metadata"]["annotations"]["stale"] = "yes"
    stub.objects[("jobs", NAME)] = stale
    nursery.start_soon(_when_created_then, stub, lambda: stub.start(NAME))
    with trio.fail_after(20):
        async with backend.open(SPEC, case="c1"):
            assert "stale" not in stub.objects[("jobs", NAME)]["metadata"]["annotations"]
    calls = [(m, p) for m, p, _ in stub.requests if p.startswith(JOBS) and "watch" not in p]
    assert calls[:4] == [("POST", JOBS), ("DELETE", f"{JOBS}/{NAME}"),
                         ("GET", f"{JOBS}/{NAME}"), ("POST", JOBS)]
    assert stub.objects == {}


async def test_cancel_while_waiting_for_the_pod_deletes_the_job(stub, backend,
                                                                 nursery) -> None:
    with trio.fail_after(20), trio.CancelScope() as scope:
        nursery.start_soon(_when_created_then, stub, scope.cancel)
        async with backend.open(SPEC, case="c1"):
            pytest.fail("must not get here")
    assert scope.cancelled_caught
    assert stub.objects == {}


async def test_pod_never_ready_times_out_and_deletes(stub, backend) -> None:
    with trio.fail_after(20), pytest.raises(SandboxError, match=r"pod not ready within 0\.5 s"):
        async with backend.open(SPEC, case="c1", limits=Limits(start_s=0.5)):
            pass
    assert stub.objects == {}


async def test_exec_goes_through_kubectl_into_the_pod(stub, backend, fake_kubectl,
                                                      nursery) -> None:
    nursery.start_soon(_when_created_then, stub, lambda: stub.start(NAME))
    async with backend.open(SPEC, case="c1") as env:
        result = await env.sandbox("redis").exec(["sh", "-c", "echo $TZ"], env={"A": "1"})
        assert result.ok and result.output == "UTC\n"
    (call, *_) = fake_kubectl()
    assert call[:8] == ["exec", "-n", "default", f"{NAME}-pod", "-c", "redis", "--", "env"]
    assert call[8] == "A=1"


@pytest.mark.cluster
@pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="KUBECONFIG does not point at a "
                    "cluster")
async def test_on_a_real_cluster(tmp_path: Path) -> None:
    spec = parse_spec('{:containers [{:name "sut" :image "busybox:1.36" '
                      ':cmd ["sh" "-c" "echo hi; exit 3"]}]}')
    backend = KubernetesBackend(run_dir=tmp_path)
    with trio.fail_after(300):
        async with backend.open(spec, case="cluster-test", limits=Limits(start_s=240)) as env:
            result = await env.wait()
    assert result.exit_code == 3 and "hi" in result.output
