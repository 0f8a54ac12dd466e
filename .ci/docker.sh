#!/usr/bin/env bash
# A real docker engine for CI and the tests (issue 20). Installs docker.io, Debian's
# docker-compose and debootstrap when missing, starts dockerd unless an engine answers, and
# builds the test images from Debian packages -- no image registry is reachable, and a build is
# skipped when the image exists built from the same packages. Needs root and .venv (make lint
# makes it). Locally, `sudo .ci/docker.sh` is what the skipped docker tests ask for.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    log=${DOCKERD_LOG:-/var/log/agenttree-dockerd.log}
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker.sh: dockerd does not answer after 60 s; the end of $log:" >&2
        tail -20 "$log" >&2
        exit 1
    fi
fi

# agenttree.sandbox.images.EXAMPLE_IMAGES: what plans/containers/, the tests and make bench use.
# If these lines drift from it, the tests fail, naming the command that builds what they expect.
# The builds run side by side (each mostly waits on dpkg): about 40% less time than in turn.
agenttree=.venv/bin/agenttree
builds=()
"$agenttree" containers image agenttree/python:bookworm --packages python3 python3-pytest &
builds+=($!)
"$agenttree" containers image agenttree/redis:bookworm --packages redis-server &
builds+=($!)
# The coding suite's --backend docker (issue 23): its agents and programs run in this image.
"$agenttree" containers image agenttree/coding:bookworm --packages python3 python-is-python3 \
    python3-trio python3-trio-websocket python3-httpx socat &
builds+=($!)
for build in "${builds[@]}"; do
    wait "$build"  # a failed build fails the script (set -e)
done
echo "docker.sh: engine and images ready in $((SECONDS - started)) s"
