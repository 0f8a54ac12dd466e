"""``agenttree tui`` on the command line: bad input, and the engine/UI boundary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agenttree.cli import main
from tui.cli import _after

from .conftest import ROOT

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""


def python(code: str, blocked: set[str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in which ``blocked`` packages cannot be imported."""
    return subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked) + code],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_the_engine_and_its_cli_run_without_textual() -> None:
    out = python("from agenttree.cli import main\nmain(['--help'])", {"textual"})
    assert out.returncode == 0, out.stderr
    assert "tui" in out.stdout  # the plugin registers without importing Textual


def test_no_engine_module_imports_the_ui() -> None:
    code = """
import importlib, pkgutil, agenttree
bad = []
for mod in pkgutil.walk_packages(agenttree.__path__, "agenttree."):
    if mod.name == "agenttree.__main__":  # runs the CLI, which loads plugins on purpose
        continue
    try:
        importlib.import_module(mod.name)
    except ImportError as exc:
        if "blocked" in str(exc):
            bad.append(f"{mod.name}: {exc}")
print("\\n".join(bad))
"""
    out = python(code, {"tui", "textual"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_the_cli_works_without_the_ui_package() -> None:
    out = python("from agenttree.cli import main\nmain(['--help'])", {"tui"})
    assert out.returncode == 0, out.stderr
    assert "agenttree: warning: no 'tui' command: blocked: tui" in out.stderr
    assert "replay" in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    ([], "tui: give a plan (.edn) to run or a run directory to attach to"),
    (["no/such/thing"], "no/such/thing: no such plan or run directory"),
    (["{tmp}"], "{tmp}: not a run directory (no events.jsonl)"),
    (["--readonly", "plans/demo.edn"], "--readonly watches an existing run"),
    (["{tmp}/bad.edn"], "bad.edn:1: "),
    (["--keys", "{tmp}/keys.toml", "plans/demo.edn"], "unknown binding id 'explode'"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    (tmp_path / "bad.edn").write_text('{:task {:task/id "root" :goal 3}}')
    (tmp_path / "keys.toml").write_text('explode = "x"\n')
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main(["tui", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("agenttree: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert not list(tmp_path.glob("*/events.jsonl"))  # nothing was started


def test_list_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tui", "--list-keys"]) == 0
    out = capsys.readouterr().out
    assert "cancel" in out and "time" not in out.split()[0]
    assert any(line.split()[:2] == ["grant", "g"] for line in out.splitlines())


def test_stop_on_leaving_cancels_the_root_the_log_names(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _after("stop", tmp_path, None, "main")  # attached to a run whose root task is "main"
    assert (tmp_path / "control.jsonl").read_text() == '{"cmd":"cancel","agent":"main"}\n'
    _after("stop", tmp_path / "other", None, None)  # no agent yet: nothing to cancel
    assert not (tmp_path / "other").exists()
    assert "nothing to cancel" in capsys.readouterr().err


def test_the_app_imports_no_markdown_parser_until_a_turn_is_shown() -> None:
    # The parser (markdown-it, ~3 MB) is needed only by the help panel and the Chat tab's
    # model turns: both import it when first shown.
    out = python("import tui.app", {"markdown_it"})
    assert out.returncode == 0, out.stderr


def test_the_app_and_its_fold_run_without_trio() -> None:
    # The TUI reads a run's log and folds it; only the engine's writer needs Trio (~4 MB of a
    # process that should weigh no more than the engine it watches).
    out = python("import tui.app, tui.cli, agenttree.state, agenttree.log", {"trio"})
    assert out.returncode == 0, out.stderr
