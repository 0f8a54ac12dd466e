"""The page in a real browser: Debian's chromium, headless, driven by Playwright's sync API.

These are plain sync tests (Playwright's sync API cannot run inside a trio test): the engine
and the server run as ``agenttree`` subprocesses. Skipped, saying why, where chromium or
Playwright is missing (``.ci/run`` installs chromium; Playwright's browsers are never
downloaded).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.log import LogReader
from agenttree.state import fold

from .conftest import RunLog, spawned

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed (pip install playwright)")
expect = sync_api.expect

ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 20_000

WAITING_PLAN = """
{:run/name "browser"
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :goal "wait for the children" :script [{:say "waiting"}]
        :children [{:task/id "a" :script [{:call :wait :args {:timeout_s 300}}]}
                   {:task/id "b" :script [{:call :wait :args {:timeout_s 300}}]
                    :children [{:task/id "b1" :script [{:call :wait :args {:timeout_s 300}}]}]}]}}
"""


def agenttree(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agenttree", *args], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[str]) -> str:
    """Interrupt ``proc`` (as Ctrl-C would) and return what it wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err


@pytest.fixture
def serve_dir() -> Iterator:
    """Starts ``agenttree serve DIR --port 0`` and gives the URL it printed."""
    procs, urls = [], []

    def start(run_dir: Path) -> str:
        proc = agenttree("serve", str(run_dir), "--port", "0")
        procs.append(proc)
        line = proc.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + proc.stderr.read()
        urls.append(line.rsplit(" at ", 1)[1].strip())
        return urls[-1]

    yield start
    for proc in procs:
        err = stop(proc)
        assert "Traceback" not in err, err
        assert urls[0].rsplit("=", 1)[1] not in err  # the token is never logged


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator:
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, errors


def row(page, agent: str):
    return page.locator(f'[role="treeitem"][data-agent="{agent}"]')


def test_the_tree_updates_live_and_cancel_works(tmp_path: Path, serve_dir, page) -> None:
    plan = tmp_path / "wait.edn"
    plan.write_text(WAITING_PLAN)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    url = serve_dir(run_dir)  # serving before the run starts: everything arrives live
    page.goto(url)
    expect(page.get_by_role("status").first).to_contain_text("live", timeout=WAIT_MS)
    assert "token=" not in page.url  # taken out of the address bar
    assert row(page, "root").count() == 0
    run = agenttree("run", str(plan), "--run-dir", str(run_dir), "--quiet")
    try:
        for agent in ["root", "root.a", "root.b", "root.b.b1"]:
            expect(row(page, agent)).to_be_visible(timeout=WAIT_MS)
        expect(row(page, "root.a")).to_have_attribute("data-status", "tool", timeout=WAIT_MS)
        page.get_by_role("button", name="root.b", exact=True).click()
        expect(page.get_by_role("heading", name="Agent root.b")).to_be_visible()
        expect(page.get_by_label("Conversation")).to_contain_text("tool wait", timeout=WAIT_MS)

        page.get_by_role("button", name="Cancel root.a").click()
        expect(row(page, "root.a")).to_have_attribute("data-status", "cancelled",
                                                      timeout=WAIT_MS)
        expect(page.locator("#control-result")).to_contain_text(
            "cancel root.a: applied — cancelling root.a and its subtree")
        expect(page.get_by_role("button", name="Cancel root.a")).to_be_disabled()
        expect(row(page, "root.b")).not_to_have_attribute("data-status", "cancelled")

        page.get_by_role("button", name="Cancel root", exact=True).click()
        expect(page.locator("#run-status")).to_contain_text("run cancelled", timeout=WAIT_MS)
        for agent in ["root", "root.b", "root.b.b1"]:
            expect(row(page, agent)).to_have_attribute("data-status", "cancelled")
        assert run.wait(timeout=30) == 1  # cancelled
    finally:
        stop(run)


RECORDED = Path(__file__).parents[1] / "recorded" / "web-fold" / "events.jsonl"

PAGE_ROWS = """() => [...document.querySelectorAll('[role="treeitem"]')]
  .sort((a, b) => a.dataset.index - b.dataset.index)
  .map((li) => [li.dataset.agent, Number(li.getAttribute("aria-level")) - 1, li.dataset.status,
                li.querySelector(".detail").textContent, Number(li.dataset.toolCalls),
                Number(li.dataset.tokens)])"""


def fold_rows(log: Path) -> list[list]:
    """The tree's rows as agenttree/state.py folds ``log``: pre-order from the root."""
    state = fold(LogReader(log))
    agents = [state.agents[a] for a in state.subtree(state.root)] if state.root else []
    return [[a.id, a.depth, a.status, a.detail, a.tool_calls, a.tokens] for a in agents]


def test_the_page_s_rows_are_the_python_fold_of_a_recorded_run(tmp_path: Path, serve_dir,
                                                               page) -> None:
    # A real run: root.a re-opened (attempt 2, its done child a1 not among the new attempt's),
    # and a resume that requested root.slow's tool call again. Written in stages while the
    # page watches, so the page gets there by deltas; then loaded afresh, from a snapshot.
    lines = RECORDED.read_bytes().splitlines(keepends=True)
    respawn = next(n for n, line in enumerate(lines)
                   if b'"agent/spawned"' in line and b'"attempt":2' in line)
    resumed = next(n for n, line in enumerate(lines) if b'"run/resumed"' in line)
    log = RunLog(tmp_path / "run")
    page.goto(serve_dir(log.run_dir))
    expect(page.locator("#run-status")).to_contain_text("live", timeout=WAIT_MS)
    written = 0
    for end in [5, respawn, respawn + 1, respawn + 3, resumed + 4, len(lines)]:
        with open(log.path, "ab") as f:
            f.write(b"".join(lines[written:end]))
        written = end
        want = fold_rows(log.path)
        try:
            page.wait_for_function(f"(want) => JSON.stringify(({PAGE_ROWS})()) === "
                                   "JSON.stringify(want)", arg=want, timeout=WAIT_MS)
        except sync_api.TimeoutError:
            assert page.evaluate(PAGE_ROWS) == want, f"after {end} events"
        expect(page.locator("#seq")).to_have_text(f"(seq {end})")
    rows = {r[0]: r for r in want}
    assert rows["root.slow"][4] == 2  # requested again after the resume: counted once
    assert "root.a.a1" not in rows and rows["root.a.a2"][1] == 2  # the re-opened parent's
    expect(page.locator("#run-status")).to_contain_text("run done")
    page.reload()
    expect(page.locator("#seq")).to_have_text(f"(seq {len(lines)})", timeout=WAIT_MS)
    assert page.evaluate(PAGE_ROWS) == want


def test_ten_thousand_agents_render_only_the_rows_in_view(tmp_path: Path, serve_dir,
                                                          page) -> None:
    log = RunLog(tmp_path / "run")
    log.write([ev.RunStarted(plan_name="big", plan_path="big.edn", run_dir="r", seed=0,
                             durability="none"), spawned("root")])
    parents = [f"root.g{i}" for i in range(100)]
    log.write(spawned(p, "root") for p in parents[:50])
    log.write(spawned(f"{p}.w{j}", p) for p in parents[:50] for j in range(99))
    total = 1 + 100 + 100 * 99
    page.goto(serve_dir(log.run_dir))  # half the tree from the snapshot, half by deltas
    expect(page.locator("#agent-total")).to_have_text(f"({1 + 50 + 50 * 99})",
                                                      timeout=WAIT_MS)
    for p in parents[50:]:
        log.write([spawned(p, "root"), *(spawned(f"{p}.w{j}", p) for j in range(99))])
    expect(page.locator("#agent-total")).to_have_text(f"({total})", timeout=WAIT_MS)
    rows = page.get_by_role("treeitem")
    expect(rows.first).to_be_visible()
    assert rows.count() < 80  # ~27 rows in view + overscan, not 10,000
    assert page.evaluate("document.querySelectorAll('#tree *').length") < 80 * 6
    page.locator("#tree").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    last = "root.g99.w98"
    expect(row(page, last)).to_be_visible(timeout=WAIT_MS)
    assert rows.count() < 80
    log.write([ev.AgentFinished(agent=last, status="done")])  # a live change, in view
    expect(row(page, last)).to_have_attribute("data-status", "done", timeout=WAIT_MS)
    page.get_by_role("button", name=last, exact=True).click()
    expect(page.get_by_role("heading", name=f"Agent {last}")).to_be_visible()


def test_the_containers_panel_shows_each_container_s_status_image_and_backend(
        tmp_path: Path, serve_dir, page) -> None:
    log = RunLog(tmp_path / "run")
    log.write([ev.RunStarted(plan_name="c", plan_path="c.edn", run_dir="r", seed=0,
                             durability="none"), spawned("root"),
               ev.ContainerStarted(case="c1", name="db", backend="local", image="postgres:16")])
    page.goto(serve_dir(log.run_dir))
    cells = page.locator("#containers td")
    expect(cells).to_have_text(["c1/db", "started", "postgres:16", "local"], timeout=WAIT_MS)
    log.write([ev.ContainerHealthy(case="c1", name="db", checks=1)])
    expect(cells.nth(1)).to_have_text("healthy", timeout=WAIT_MS)


def test_the_activity_panel_draws_marks_opens_their_events_and_folds_with_the_tree(
        tmp_path: Path, serve_dir, page) -> None:
    log = RunLog(tmp_path / "run")
    log.write([ev.RunStarted(plan_name="act", plan_path="a.edn", run_dir="r", seed=0,
                             durability="none"),
               spawned("root"), spawned("root.a", "root"), spawned("root.a.x", "root.a"),
               ev.ModelRequested(agent="root.a", model="scripted", turn=1, messages=1),
               ev.ModelResponded(agent="root.a", model="scripted", turn=1, text="", calls=[],
                                 usage={"prompt": 30, "completion": 12}),
               ev.BudgetCharged(agent="root.a", kind="tokens", amount=42, used=42),
               ev.ToolRequested(agent="root.a", call="c1", tool="sh", args={"cmd": "ls"})])
    page.goto(serve_dir(log.run_dir))
    lane = page.locator('.act-row[data-agent="root.a"]')
    expect(lane.locator(".mark.model")).to_have_count(1, timeout=WAIT_MS)
    expect(lane.locator(".mark.tool")).to_have_attribute("data-seq", "8")
    log.write([ev.ToolResult(agent="root.a", call="c1", tool="sh", ok=False, output="no"),
               ev.AgentMessage(sender="root.a", to="root", kind="chat", text="hi")])
    expect(lane.locator(".mark.tool.bad")).to_have_count(1, timeout=WAIT_MS)  # live
    expect(page.locator('.act-row[data-agent="root"] .mark.message')).to_have_count(1)
    lane.locator(".mark.tool").click()
    expect(page.get_by_label("Event", exact=True)).to_contain_text('"type": "tool/requested"')
    # Budgets as pictures: the root's subtree, root.a's bar.
    expect(page.get_by_role("img", name="tokens by subtree")).to_contain_text(
        "tokens: 42 in root's subtree")
    # Collapsing root.a in the tree folds its child away in both panels.
    expect(page.locator('.act-row[data-agent="root.a.x"]')).to_have_count(1)
    page.get_by_role("button", name="Close root.a").click()
    expect(page.locator('.act-row[data-agent="root.a.x"]')).to_have_count(0)
    expect(row(page, "root.a.x")).to_have_count(0)
    expect(row(page, "root.a")).to_have_attribute("aria-expanded", "false")
    page.get_by_role("button", name="Open root.a").click()
    expect(row(page, "root.a.x")).to_have_count(1)
    # Zoom: the window halves; "whole run" goes back.
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#activity-span")).not_to_contain_text("whole run")
    page.get_by_role("button", name="Whole run, live").click()
    expect(page.locator("#activity-span")).to_contain_text("whole run")


GATED_PLAN = """
{:run/name "gated"
 :tiers [{:depth 0 :models ["scripted"] :approve [:sh :write-file]
          :budget {:tool-calls 20 :tokens 100000}}]
 :task {:task/id "root"
        :script [{:call :sh :args {:cmd "echo ran >> out.txt"}}
                 {:call :write-file :args {:path "gone.txt" :content "x"}}
                 {:say "done"}]}}
"""


# An Events row's space between its type's text and the agent's name, in px.
GAP_AFTER_TYPE_JS = """li => {
  const text = document.createRange();
  text.selectNodeContents(li.querySelector('.type'));
  return li.querySelector('.who').getBoundingClientRect().left - text.getBoundingClientRect().right;
}"""


def test_approve_and_deny_buttons_decide_a_waiting_call(tmp_path: Path, serve_dir,
                                                         page) -> None:
    plan = tmp_path / "gated.edn"
    plan.write_text(GATED_PLAN)
    run_dir = tmp_path / "run"
    run = agenttree("run", str(plan), "--run-dir", str(run_dir), "--quiet")
    try:
        while not (run_dir / "events.jsonl").exists():
            assert run.poll() is None, run.communicate()
        page.goto(serve_dir(run_dir))
        expect(row(page, "root")).to_have_attribute("data-status", "needs-you", timeout=WAIT_MS)
        expect(page.get_by_role("button", name="Deny root#1.0")).to_be_visible()
        expect(page.get_by_label("Reason for a denial")).to_be_visible()
        # The Events panel keeps the longest event type apart from the agent beside it.
        gap = page.locator("#events li", has_text="tool/approval-requested").first.evaluate(
            GAP_AFTER_TYPE_JS)
        assert gap >= 6, gap
        # The buttons fit in the tree panel (the row's other columns give way), not clipped.
        tree = page.locator("#tree-panel .tree").bounding_box()
        deny = page.get_by_role("button", name="Deny root#1.0").bounding_box()
        assert deny["x"] + deny["width"] <= tree["x"] + tree["width"], (deny, tree)
        page.get_by_role("button", name="Approve root#1.0").click()
        expect(page.locator("#control-result")).to_contain_text(
            "approve root#1.0: applied — approved root#1.0 (sh for root)", timeout=WAIT_MS)

        expect(page.get_by_role("button", name="Deny root#2.0")).to_be_visible(timeout=WAIT_MS)
        page.get_by_label("Reason for a denial").fill("not in this tree")
        page.get_by_role("button", name="Deny root#2.0").click()
        expect(page.locator("#control-result")).to_contain_text(
            "deny root#2.0: applied — denied root#2.0 (write-file for root)", timeout=WAIT_MS)
        expect(row(page, "root")).to_have_attribute("data-status", "done", timeout=WAIT_MS)
        expect(row(page, "root").locator("button.approve")).to_be_hidden()
        # The reason field is there only while a call waits for a person.
        expect(page.get_by_label("Reason for a denial")).to_be_hidden()
        assert run.wait(timeout=30) == 0
    finally:
        stop(run)
    assert (run_dir / "workspace" / "out.txt").read_text() == "ran\n"
    state = fold(LogReader(run_dir / "events.jsonl"))
    assert state.approvals["root#2.0"] == {
        "agent": "root", "tool": "write-file", "args": {"path": "gone.txt", "content": "x"},
        "timeout_s": None, "status": "denied", "reason": "not in this tree",
        "seq": state.approvals["root#2.0"]["seq"]}
