"""A stand-in ``debootstrap`` for tests: records its argv (one JSON line in
``FAKE_DEBOOTSTRAP_LOG``) and makes a tiny tree in the target directory -- a file of the system,
and a downloaded package and package list (the caches an image leaves out). With
``FAKE_DEBOOTSTRAP_FAIL`` set it fails the way debootstrap does when a package is unknown; with
``FAKE_DEBOOTSTRAP_MOUNT`` too, it first mounts a file system at ``proc`` in the tree and leaves
it there, as a killed debootstrap leaves the host's /proc.
"""

import json
import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    with open(os.environ["FAKE_DEBOOTSTRAP_LOG"], "a") as f:
        f.write(json.dumps(argv) + "\n")
    positional = [a for a in argv if not a.startswith("--")]
    root = Path(positional[1])
    root.mkdir(parents=True)
    if os.environ.get("FAKE_DEBOOTSTRAP_MOUNT"):
        (root / "proc").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "fake-proc", str(root / "proc")], check=True)
        (root / "proc" / "cpuinfo").write_text("not yours to delete\n")
    if os.environ.get("FAKE_DEBOOTSTRAP_FAIL"):
        print("I: Retrieving InRelease", flush=True)
        print("E: Couldn't find these debs: no-such-package", file=sys.stderr)
        return 1
    for path, text in (("etc/os-release", 'PRETTY_NAME="fake Debian"\n'),
                       ("var/cache/apt/archives/python3_3.11_amd64.deb", "deb"),
                       ("var/lib/apt/lists/deb.debian.org_Packages", "list")):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    print("I: Base system installed successfully.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
