"""The control commands of the ``agenttree`` CLI: cancel, say, reassign, reconcile, grant,
approve, deny, and ``plan export``.

Each appends one command to a run's ``control.jsonl`` (the engine may be another process, even
started by someone else) and waits for the engine's answer in the log (``--wait``, default
10 s). Exit status: 0 applied, 2 rejected or bad input (the reason on one line), 1 when no
engine answered in time (the command stays queued: the engine applies it when it gets to it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UserError
from .numbers import NumberError, check_number, parse_number

if TYPE_CHECKING:
    from .control import Command, ControlClient

# The control protocol and the readers of the log are imported when a command runs, not when
# the parser is built: ``agenttree --help`` and ``--version`` stay fast.

EXIT_OK, EXIT_NO_ANSWER, EXIT_REJECTED = 0, 1, 2
ACK_WAIT_S = 10.0


def register(sub: Any) -> None:
    """Add the control commands to the ``agenttree`` subparsers."""
    cancel = sub.add_parser("cancel", help="cancel an agent (and its subtree) of a running run")
    cancel.add_argument("run_dir")
    cancel.add_argument("agent", help="agent id, e.g. root.lib")
    cancel.set_defaults(func=cmd_cancel)

    say = sub.add_parser("say", help="put a note from you into a running agent's inbox")
    say.add_argument("run_dir")
    say.add_argument("agent")
    say.add_argument("text")
    say.set_defaults(func=cmd_say)

    reassign = sub.add_parser("reassign", help="restart a task (new model, new parent) while "
                              "the run goes on")
    reassign.add_argument("run_dir")
    reassign.add_argument("task", help="task id (:task/id in the plan)")
    reassign.add_argument("--model", help="a model the task's parent allows")
    reassign.add_argument("--parent", help="move the task under this task")
    reassign.set_defaults(func=cmd_reassign)

    reconcile = sub.add_parser("reconcile", help="make a running run follow an edited plan")
    reconcile.add_argument("run_dir")
    reconcile.add_argument("plan", nargs="?", help="copy this plan into the run first "
                           "(default: the run's own plan.edn, edited in place)")
    reconcile.set_defaults(func=cmd_reconcile)

    grant = sub.add_parser("grant", help="give a running agent more budget (its ancestors' "
                           "limits rise as much)")
    grant.add_argument("run_dir")
    grant.add_argument("agent")
    grant.add_argument("amounts", nargs="+", metavar="KIND=AMOUNT",
                       help="e.g. tool-calls=5 tokens=20000 (kinds: tool-calls, tokens, "
                       "retries, cost)")
    grant.set_defaults(func=cmd_grant)

    approve = sub.add_parser("approve", help="let a tool call that waits for you (:approve) run")
    approve.add_argument("run_dir")
    approve.add_argument("call", help="the call's id, e.g. root.lib#3.0 (shown where the "
                         "agent is marked needs-you)")
    approve.set_defaults(func=cmd_approve)

    deny = sub.add_parser("deny", help="refuse a tool call that waits for you (:approve); the "
                          "model is told why")
    deny.add_argument("run_dir")
    deny.add_argument("call", help="the call's id, e.g. root.lib#3.0")
    deny.add_argument("--reason", help="what the model is told (default: denied by a person)")
    deny.set_defaults(func=cmd_deny)
    for command in (cancel, say, reassign, reconcile, grant, approve, deny):
        command.add_argument("--wait", type=_seconds, default=ACK_WAIT_S, metavar="S",
                             help=f"seconds to wait for the engine's answer (default "
                             f"{ACK_WAIT_S:g}; the command is applied even if it comes later)")


def _seconds(text: str) -> float:
    try:
        return float(check_number(parse_number(text)))
    except NumberError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register_plan(plan_sub: Any) -> None:
    """Add ``plan export`` to the ``agenttree plan`` actions."""
    export = plan_sub.add_parser("export", help="write the plan a run follows now, run-time "
                                 "spawns included")
    export.add_argument("run_dir")
    export.add_argument("-o", "--output", help="write to this file (default: stdout)")
    export.set_defaults(func=cmd_plan_export)


def send(client: ControlClient, command: Command, wait_s: float) -> int:
    """Append ``command`` to the run's control file, wait up to ``wait_s`` for the engine's
    answer and print it; the exit status."""
    client.require_engine(command.CMD)
    sent = client.send_nowait(command)
    answer = client.wait(sent, wait_s)
    if answer is None and (status := client.finished()) is not None:
        print(f"agenttree: queued as line {sent.line} of control.jsonl; the run finished "
              f"({status}) before its engine got to it", file=sys.stderr)
        return EXIT_NO_ANSWER
    if answer is None:
        print(f"agenttree: queued as line {sent.line} of control.jsonl; no engine answered "
              f"within {wait_s:g}s (is the run still going? a running engine applies it when "
              "it gets to it)", file=sys.stderr)
        return EXIT_NO_ANSWER
    if not answer.applied:
        print(f"agenttree: rejected: {answer.detail}", file=sys.stderr)
        return EXIT_REJECTED
    print(answer.detail)
    return EXIT_OK


def send_command(args: argparse.Namespace, command: Command) -> int:
    """Send ``command`` to the run in ``args.run_dir``, waiting ``args.wait`` (:func:`send`)."""
    from .control import ControlClient

    return send(ControlClient(args.run_dir), command, args.wait)


def cmd_cancel(args: argparse.Namespace) -> int:
    """``agenttree cancel RUN_DIR AGENT``."""
    from .control import Cancel

    return send_command(args, Cancel(agent=args.agent))


def cmd_say(args: argparse.Namespace) -> int:
    """``agenttree say RUN_DIR AGENT TEXT``."""
    from .control import Message

    return send_command(args, Message(agent=args.agent, text=args.text))


def cmd_reassign(args: argparse.Namespace) -> int:
    """``agenttree reassign RUN_DIR TASK [--model M] [--parent P]``."""
    from .control import Reassign

    return send_command(args, Reassign(task=args.task, model=args.model or None,
                                       parent=args.parent or None))


def cmd_reconcile(args: argparse.Namespace) -> int:
    """``agenttree reconcile RUN_DIR [PLAN]``: validate, show the diff, then apply.

    An invalid plan changes nothing. A ``PLAN`` file is staged for the engine (``plans/``),
    never copied over ``plan.edn``: the engine writes ``plan.edn`` once it has applied the
    plan, so the file is right however long the engine takes, and nothing is put back.
    """
    from .control import ControlClient, Reconcile, stage_plan
    from .edn_source import read_source
    from .plan import parse_plan
    from .plan_diff import diff_plans

    client = ControlClient(args.run_dir)
    source = Path(args.plan) if args.plan else client.run_dir / "plan.edn"
    text = read_source(source)
    new = parse_plan(text, source=str(source))
    client.require_engine("reconcile")
    if in_force := client.plan_in_force():
        print(f"diff: {diff_plans(parse_plan(in_force), new).summary()}")
    digest = stage_plan(client.run_dir, text) if args.plan else None
    return send(client, Reconcile(plan=digest), args.wait)


def parse_amounts(amounts: list[str]) -> dict[str, float]:
    """``["tool-calls=5", "cost=0.5"]`` -> ``{"tool-calls": 5, "cost": 0.5}``, each amount
    checked as every budget amount is (:func:`~agenttree.budget.check_budget`)."""
    from .budget import check_budget

    raw: dict[str, float] = {}
    for item in amounts:
        kind, sep, value = item.partition("=")
        if not sep or not kind:
            raise UserError(f"{item!r}: expected KIND=AMOUNT, e.g. tool-calls=5")
        try:
            raw[kind] = parse_number(value.strip())
        except NumberError as exc:
            raise UserError(f"{item!r}: {exc}") from None
    try:
        return check_budget(raw)
    except NumberError as exc:
        raise UserError(str(exc)) from None


def cmd_grant(args: argparse.Namespace) -> int:
    """``agenttree grant RUN_DIR AGENT KIND=AMOUNT...``."""
    from .control import Grant

    return send_command(args, Grant(agent=args.agent, budget=parse_amounts(args.amounts)))


def cmd_approve(args: argparse.Namespace) -> int:
    """``agenttree approve RUN_DIR CALL``."""
    from .control import Approve

    return send_command(args, Approve(call=args.call))


def cmd_deny(args: argparse.Namespace) -> int:
    """``agenttree deny RUN_DIR CALL [--reason TEXT]``."""
    from .control import Deny

    return send_command(args, Deny(call=args.call, reason=args.reason))


def cmd_plan_export(args: argparse.Namespace) -> int:
    """``agenttree plan export RUN_DIR``: the plan as it stands, spawns included."""
    from .log import LogReader
    from .plan import parse_plan, plan_to_edn
    from .plan_diff import Spawn, with_spawns
    from .rundir import require_run_dir
    from .state import fold

    path = require_run_dir(args.run_dir)
    state = fold(LogReader(path / "events.jsonl"))
    if not state.plan_edn:
        raise UserError(f"{args.run_dir}: the log holds no plan")
    plan = parse_plan(state.plan_edn, source=str(path / "events.jsonl"))
    spawns = [Spawn(task=a.task, parent_task=state.agents[a.parent].task, goal=a.goal,
                    cwd=a.cwd)
              for a in state.agents.values() if a.dynamic and a.parent in state.agents]
    edn = plan_to_edn(with_spawns(plan, spawns))
    if args.output:
        Path(args.output).write_text(edn)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(edn)
    return EXIT_OK
