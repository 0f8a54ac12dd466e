"""An agent's system prompt: the built-in protocol, then every rule its ancestors imposed.

The parent decides a child's system prompt, as it decides its model, tools and budget, and it
can only add: the prompt of an agent is

1. :data:`PROTOCOL`, the built-in lines that teach the tree protocol (when to spawn, message,
   report state, wait and finish), each line kept only when it applies to the agent (its tools,
   whether it has a parent, whether it has acceptance checks); then
2. its **imposed parts**, outermost first: every ``:system-prompt`` on the way down from the
   root — the tiers' (for the depths they cover) and the tasks' (a task's reaches its whole
   subtree; ``spawn``'s ``system_prompt`` is the new task's). A child's parts are its parent's
   plus its own (:func:`imposed`), so nothing an ancestor imposed is ever left out.

docs/models.md quotes :data:`PROTOCOL` and :data:`RULES` word for word (a test keeps them equal).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import attrs

from .plan import Plan, Task

PROTOCOL: tuple[tuple[str, str], ...] = (
    ("", "You are agent {agent} in a tree of AI agents that share one workspace. You work on "
         "task {task} in the directory {cwd} of that workspace, and you act only through your "
         "tools: each call's result comes back to you."),
    ("parent", "Your parent agent, {parent}, gave you this task: your final answer goes to it."),
    ("root", "You are the root agent: the people running the tree gave you this task and may "
             "send you messages."),
    ("tool spawn", "Hand a self-contained part of your task to a child agent with spawn: give it "
                   "a clear goal, a working directory, and, if it needs them, rules of its own "
                   "(system_prompt); your rules reach it anyway. A child's result comes back to "
                   "you as news when it finishes."),
    ("tool message", "Send a message only when it changes what the receiver does: to your parent "
                     "(to \"parent\") when you are blocked or need a decision, to a child to "
                     "redirect it."),
    ("tool report-state", "Tell your parent how far you are with report-state (facts such as "
                          "{{\"progress\": {{\"done\": 2, \"total\": 5}}}}, status \"blocked\" "
                          "when you cannot go on)."),
    ("tool wait", "When you cannot go on until a message arrives or a child finishes, call wait "
                  "rather than repeating other calls."),
    ("tool request-upgrade", "If you need a model or a tool you lack, ask your parent with "
                             "request-upgrade, then wait for its answer."),
    ("tool grant", "A child that asks for more budget, a model or tools gets them from you with "
                   "grant (out of your own), or a message saying why not."),
    ("tool lock", "Before you change a file other agents may change, take a write lock on it "
                  "with lock, pass its token to write-file, and unlock it when you are done."),
    ("tool finish", "When your task is done, call finish with a short summary of the result."),
    ("no tool finish", "When your task is done, answer without a tool call: that answer is your "
                       "result."),
    ("acceptance", "Your work is accepted when these commands succeed in {cwd}: {checks}. If "
                   "one fails, you are shown why and may fix it."),
)
"""The built-in lines: (when the line applies, its text with ``{placeholders}``). A line applies
always (``""``), to an agent with a parent (``parent``) or to the root (``root``), when the agent
is offered a tool (``tool NAME``) or not (``no tool NAME``), when its task has acceptance checks
(``acceptance``)."""

RULES = "Rules from {source}, for you and every agent below you:\n{text}"
"""How each imposed part follows the protocol (after a blank line)."""


@attrs.frozen(kw_only=True)
class PromptPart:
    """Instructions an ancestor (or the plan) imposed: ``source`` says where they come from."""

    source: str
    text: str


def imposed(parent: tuple[PromptPart, ...], plan: Plan, task: Task,
            depth: int) -> tuple[PromptPart, ...]:
    """The imposed parts of an agent on ``task`` at ``depth`` whose parent's are ``parent``
    (``()`` for the root): the parent's, then its tier's (once: a tier covers several depths),
    then its task's."""
    tier = plan.tier_for(depth)
    if tier.system_prompt is None and task.system_prompt is None:
        return parent  # (nothing added: siblings share their parent's tuple)
    parts = list(parent)
    if tier.system_prompt is not None:
        _add(parts, PromptPart(source=f"the plan's tier for depth {tier.depth}",
                               text=tier.system_prompt))
    if task.system_prompt is not None:
        _add(parts, PromptPart(source=f"task {task.id}", text=task.system_prompt))
    return tuple(parts)


def _add(parts: list[PromptPart], part: PromptPart) -> None:
    if all(p.source != part.source for p in parts):
        parts.append(part)


def system_prompt(*, agent: str, parent: str | None, task: Task, tools: Iterable[str],
                  parts: tuple[PromptPart, ...]) -> str:
    """The whole system prompt of ``agent``: the protocol lines that apply to it (``tools``:
    the tools it is offered), then its imposed parts."""
    checks = "; ".join(a.cmd for a in task.acceptance)
    text = _template(frozenset(tools), bool(parent), bool(task.acceptance)).format(
        agent=agent, parent=parent or "", task=task.id, cwd=task.cwd, checks=checks)
    for part in parts:
        text += "\n\n" + RULES.format(source=part.source, text=part.text)
    return text


@functools.lru_cache(maxsize=1024)
def _template(tools: frozenset[str], has_parent: bool, acceptance: bool) -> str:
    """The protocol lines that apply to an agent offered ``tools``, placeholders unfilled: the
    agents of a wide tree share a few of these, and an agent whose tools, parentage and
    checks are a sibling's only looks its template up (``tools`` is the set siblings share,
    its hash computed once)."""
    facts = {"parent" if has_parent else "root", *(f"tool {name}" for name in tools)}
    if acceptance:
        facts.add("acceptance")
    return "\n".join(text for when, text in PROTOCOL if _applies(when, facts))


def _applies(when: str, facts: set[str]) -> bool:
    if not when:
        return True
    if when.startswith("no "):
        return when[3:] not in facts
    return when in facts


def protocol_text() -> str:
    """:data:`PROTOCOL` and :data:`RULES` as docs/models.md shows them: each line with its
    condition in brackets, placeholders as written."""
    lines = [f"[{when}] {text}" if when else text for when, text in PROTOCOL]
    return "\n".join(lines).replace("{{", "{").replace("}}", "}") + "\n\n" + RULES
