"""``agenttree containers up|down|logs|compose|k8s SPEC`` and ``containers image NAME``: the
command's arguments. What each verb does is in :mod:`.verbs`, imported (with the backends) only
when one runs."""

from __future__ import annotations

import argparse

from .names import BACKENDS, DEFAULT_SUITE, DEFAULT_TTL_S, PROJECT_CLAIM


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``containers`` and its subcommands to the ``agenttree`` parser."""
    containers = sub.add_parser("containers",
                                help="container specs: up, down, logs, compose, k8s; image")
    verbs = containers.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(name, help=help_text)
        parser.add_argument("spec", help="the container spec (EDN file)")
        parser.add_argument("--case", default="case", help="case name (default: case)")
        return parser

    for name, help_text in (("up", "start the containers, wait for the SUT, tear down"),
                            ("down", "remove what an interrupted `up` left behind"),
                            ("logs", "print the containers' saved logs")):
        parser = verb(name, help_text)
        parser.add_argument("--backend", choices=BACKENDS, default="local",
                            help="where the containers run (default: local processes)")
        parser.add_argument("--run-dir", help="run directory (default "
                            "runs/containers-<spec>-<UTC time> for up; required otherwise)")
        parser.add_argument("--project", default=".",
                            help="directory the spec's mounts are relative to (default .)")
        parser.set_defaults(func=run_verb)
    up = verbs.choices["up"]
    up.add_argument("--start-s", type=float, default=300.0,
                    help="seconds for every container to start and be healthy (default 300)")
    verbs.choices["logs"].add_argument("--container", help="only this container's log")

    parser = verb("compose", "print the spec as a docker compose file")
    parser.add_argument("--project", default=".",
                        help="directory the spec's mounts are relative to (default .)")
    parser.set_defaults(func=run_verb)
    parser = verb("k8s", "print the spec as Kubernetes objects (a Job per case)")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--ttl-s", type=int, default=DEFAULT_TTL_S,
                        help="seconds a finished Job is kept (ttlSecondsAfterFinished)")
    parser.add_argument("--project-claim", default=PROJECT_CLAIM,
                        help="PersistentVolumeClaim holding the project, for mounts")
    parser.set_defaults(func=run_verb)

    parser = verbs.add_parser("image", help="build an image from Debian packages (no registry "
                              "needed; skipped when it is up to date)")
    parser.add_argument("name", help="the image, e.g. agenttree/python:bookworm")
    parser.add_argument("--packages", nargs="+", action="extend", default=[], metavar="PKG",
                        help="Debian packages to add to a minimal Debian (names, or "
                        "comma-separated lists)")
    parser.add_argument("--suite", default=DEFAULT_SUITE,
                        help=f"the Debian release (default {DEFAULT_SUITE})")
    parser.add_argument("--mirror", help="the Debian mirror (default: the one this machine's "
                        "apt sources use)")
    parser.add_argument("--force", action="store_true",
                        help="build even when an image built from the same inputs exists")
    parser.set_defaults(func=run_verb)


def run_verb(args: argparse.Namespace) -> int:
    """Run the verb ``args`` names (:mod:`.verbs`, imported with the backends only now)."""
    from . import verbs

    return getattr(verbs, f"cmd_{args.verb}")(args)
