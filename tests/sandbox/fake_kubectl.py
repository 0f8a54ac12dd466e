"""A stand-in ``kubectl`` for tests: ``kubectl exec [-i] -n NS POD -c C -- CMD...`` runs CMD as
a local process in a session of its own (like a process in a container), with the container's
environment read from the stub API server's Job (``FAKE_KUBE_URL``). Records every argv in
``FAKE_KUBECTL_LOG``."""

import json
import os
import subprocess
import sys
import urllib.request


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_KUBECTL_LOG"], "a") as f:
        f.write(json.dumps(argv) + "\n")
    if argv[0] != "exec" or "--" not in argv:
        print(f"fake kubectl: unsupported {argv}", file=sys.stderr)
        return 2
    head, command = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    namespace, pod, name = head[head.index("-n") + 1], head[-3], head[-1]
    url = (f"{os.environ['FAKE_KUBE_URL']}/apis/batch/v1/namespaces/{namespace}/jobs/"
           f"{pod.removesuffix('-pod')}")
    with urllib.request.urlopen(url, timeout=10) as response:
        spec = json.load(response)["spec"]["template"]["spec"]
    containers = spec["containers"] + spec.get("initContainers", [])
    container = next(c for c in containers if c["name"] == name)
    env = {**os.environ, **{e["name"]: e["value"] for e in container.get("env", [])}}
    return subprocess.Popen(command, env=env, start_new_session=True).wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
