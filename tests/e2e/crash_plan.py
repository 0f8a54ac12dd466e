"""The plan the crash tests run: 37 agents, real ``sh`` work and acceptance with side effects.

Every leaf runs one ``sh`` tool call and one acceptance command, and each appends a line naming
its task to a file in the workspace (``tools.log``, ``effects.log``), so a test can count how
often each ran. Outcomes are fixed, whatever the timing: every task ends ``done`` except
``g1-l4`` (its check always fails; no retries: ``failed``) and ``g2-l4`` (two tool calls on a
budget of one: ``budget-exhausted``).
"""

from __future__ import annotations

GROUPS, LEAVES = 6, 5


def _leaf(group: int, leaf: int) -> str:
    task = f"g{group}-l{leaf}"
    delay = 10 + 7 * ((group * LEAVES + leaf) % 5)
    check = f"echo {task} >> effects.log"
    budget = ""
    if task == "g1-l4":
        check += "; exit 1"
        budget = ":budget {:retries 0}"
    if task == "g2-l4":
        budget = ":budget {:tool-calls 1}"
    return f"""
      {{:task/id "{task}" :goal "leaf {task}" {budget}
       :script [{{:call :sh :args {{:cmd "echo {task} >> tools.log"}} :delay-ms {delay}}}
                {{:call :write-file :args {{:path "notes/{task}.md" :content "{task}"}}
                  :delay-ms {delay}}}
                {{:call :message :args {{:to "parent" :text "{task} ready"}}}}
                {{:say "{task} done" :delay-ms {delay}}}]
       :acceptance [(sh "{check}")]}}"""


def _group(group: int) -> str:
    leaves = "".join(_leaf(group, leaf) for leaf in range(LEAVES))
    return f"""
    {{:task/id "g{group}" :goal "group {group}"
     :script [{{:call :write-file :args {{:path "g{group}.md" :content "group {group}"}}}}
              {{:say "waiting for my leaves"}}
              {{:say "leaves finished"}}]
     :acceptance [(sh "echo g{group} >> effects.log")]
     :children [{leaves}]}}"""


def crash_plan() -> str:
    """The plan as EDN text."""
    groups = "".join(_group(g) for g in range(GROUPS))
    return f"""
{{:run/name "crash"
 :tiers [{{:depth 0 :models ["scripted"] :tools :all
          :budget {{:tool-calls 500 :tokens 5000000 :retries 50}}}}
         {{:depth 1 :models ["scripted"] :tools :all}}
         {{:depth 2 :models ["scripted"]
          :tools [:sh :write-file :read-file :message :finish]}}]
 :task {{:task/id "root" :goal "run six groups"
        :script [{{:say "groups started"}} {{:say "all groups finished"}}]
        :acceptance [(sh "echo root >> effects.log")]
        :children [{groups}]}}}}
"""


TASKS = ["root"] + [f"g{g}" for g in range(GROUPS)] + [
    f"g{g}-l{leaf}" for g in range(GROUPS) for leaf in range(LEAVES)]
EXPECTED = {task: "done" for task in TASKS} | {"g1-l4": "failed",
                                                "g2-l4": "budget-exhausted"}
