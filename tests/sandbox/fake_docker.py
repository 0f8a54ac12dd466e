"""A stand-in ``docker`` executable for tests: records each argv, keeps containers and networks
in a JSON file, and runs ``docker exec`` commands as real local processes (in a session of their
own, like a process inside a container: killing the client does not kill them).

Environment: ``FAKE_DOCKER_DIR`` (state.json and calls.jsonl go there); ``FAKE_DOCKER_FAIL``
``"create:2"`` makes the first two ``docker create`` fail; ``FAKE_DOCKER_HANG`` ``"create"`` makes
every ``docker create`` hang; ``FAKE_DOCKER_EXIT`` ``"sut=3"`` is what ``docker wait sut-container``
reports. An image whose name starts with ``crash`` exits at once (``docker exec`` into it
fails as with a real engine); one whose name starts with ``missing`` is not there and cannot be
pulled (until ``docker import`` makes it: it keeps the labels and the tar's file names). It
creates no volumes (``volume ls`` lists none).
"""

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HOME = Path(os.environ["FAKE_DOCKER_DIR"])
STATE = HOME / "state.json"


def load() -> dict:
    if STATE.exists():
        return json.loads(STATE.read_text())
    return {"containers": {}, "networks": {}, "failures": {}, "images": {}}


def save(state: dict) -> None:
    STATE.write_text(json.dumps(state))


def flags(args: list[str], names: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split ``--flag value`` pairs (for flags in ``names``) from the rest."""
    found: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in names:
            found.setdefault(args[i], []).append(args[i + 1])
            i += 2
        else:
            rest.append(args[i])
            i += 1
    return found, rest


def matches(labels: dict, flt: str) -> bool:
    key, value = flt.removeprefix("label=").split("=", 1)
    return labels.get(key) == value


def main(argv: list[str]) -> int:
    with (HOME / "calls.jsonl").open("a") as f:
        f.write(json.dumps(argv) + "\n")
    state = load()
    verb = argv[0]
    if verb == os.environ.get("FAKE_DOCKER_HANG"):
        time.sleep(3600)
    fail = os.environ.get("FAKE_DOCKER_FAIL", "")
    if fail.startswith(verb + ":"):
        seen = state["failures"].get(verb, 0)
        if seen < int(fail.split(":")[1]):
            state["failures"][verb] = seen + 1
            save(state)
            print("Error response from daemon: transient failure", file=sys.stderr)
            return 125
    if verb == "network":
        sub, args = argv[1], argv[2:]
        opts, rest = flags(args, {"--label", "--filter"})
        if sub == "create":
            name = rest[-1]
            if name in state["networks"]:
                print(f"Error: network with name {name} already exists", file=sys.stderr)
                return 1
            state["networks"][name] = dict(x.split("=", 1) for x in opts.get("--label", []))
        elif sub == "ls":
            print("\n".join(n for n, labels in state["networks"].items()
                            if matches(labels, opts["--filter"][0])))
        elif sub == "rm":
            for name in rest:
                state["networks"].pop(name, None)
        save(state)
        return 0
    if verb == "create":
        opts, rest = flags(argv[1:], {"--name", "--network", "--network-alias", "--label", "-e",
                                      "-w", "-v", "-p", "--cpus", "--memory"})
        name = opts["--name"][0]
        rest = rest[1:] if rest[0] == "--init" else rest
        if name in state["containers"]:
            print(f"Error: container name {name} is already in use", file=sys.stderr)
            return 125
        state["containers"][name] = {
            "labels": dict(x.split("=", 1) for x in opts.get("--label", [])),
            "env": dict(x.split("=", 1) for x in opts.get("-e", [])),
            "status": "created", "image": rest[0]}
        save(state)
        print(f"{name}-id")
        return 0
    if verb == "start":
        container = state["containers"].get(argv[1])
        if container is None:
            print(f"Error: No such container: {argv[1]}", file=sys.stderr)
            return 1
        container["status"] = "exited" if container["image"].startswith("crash") else "running"
        save(state)
        print(argv[1])
        return 0
    if verb == "rm":
        for name in argv[1:]:
            if not name.startswith("-"):
                state["containers"].pop(name, None)
        save(state)
        return 0
    if verb == "import":
        opts, rest = flags(argv[1:], {"--change"})
        with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
            files = [member.name for member in tar]
        state["images"][rest[-1]] = {
            "labels": dict(c.removeprefix("LABEL ").split("=", 1)
                           for c in opts["--change"] if c.startswith("LABEL ")),
            "changes": opts["--change"], "files": files}
        save(state)
        print(f"sha256:{rest[-1]}")
        return 0
    if verb in ("image", "pull"):
        image = argv[-1]
        if image.startswith("missing") and image not in state["images"]:
            why = "pull access denied for" if verb == "pull" else "No such image:"
            print(f"Error response from daemon: {why} {image}", file=sys.stderr)
            return 1
        if "{{json .Config.Labels}}" in argv:
            print(json.dumps(state["images"].get(image, {}).get("labels")))
        else:
            print(f"sha256:{image}")
        return 0
    if verb == "volume":
        return 0
    if verb == "ps":
        opts, _ = flags(argv[1:], {"--filter"})
        print("\n".join(n for n, c in state["containers"].items()
                        if matches(c["labels"], opts["--filter"][0])))
        return 0
    if verb in ("inspect", "logs", "wait"):
        container = state["containers"].get(argv[-1])
        if container is None:
            print(f"Error: No such container: {argv[-1]}", file=sys.stderr)
            return 1
        if verb == "inspect":
            print(f"{container['status']} 0")
        elif verb == "logs":
            print(f"log of {argv[-1]}")
        else:
            codes = dict(x.split("=") for x in os.environ.get("FAKE_DOCKER_EXIT", "").split()
                         if x)
            print(codes.get(argv[-1].rsplit("-", 1)[1], "0"))
        return 0
    if verb == "exec":
        opts, rest = flags(argv[1:], {"-w", "-e"})
        rest = [r for r in rest if r != "-i"]
        container = state["containers"].get(rest[0])
        if container is None:
            print(f"Error: No such container: {rest[0]}", file=sys.stderr)
            return 1
        if container["status"] != "running":
            print(f"Error response from daemon: container {rest[0]} is not running",
                  file=sys.stderr)
            return 1
        env = {**os.environ, **container["env"],
               **dict(x.split("=", 1) for x in opts.get("-e", []))}
        cwd = opts.get("-w", [str(HOME)])[0]
        proc = subprocess.Popen(rest[1:], env=env, cwd=cwd if os.path.isdir(cwd) else HOME,
                                start_new_session=True)
        return proc.wait()
    print(f"fake docker: unsupported {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
