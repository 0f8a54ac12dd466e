"""The benchmark runner: suites of cases, each case an agent tree run by the real engine.

``agenttree bench SUITE`` runs a suite (``suites/tool_calling``, ``suites/coding``) against one
or more models and writes a report directory (streamed ``events.jsonl``, ``summary.json``); see
docs/bench.md. Modules: :mod:`.suites` (loading suite files), :mod:`.case` (what a suite gets
and returns per case run), :mod:`.toolcalls` + :mod:`.toolkit` (the tool-calling kind and its
tools), :mod:`.coding` + :mod:`.checks` + :mod:`.quality` (the coding kind, its hidden tests and
soft metrics), :mod:`.stages` + :mod:`.seal` (where a coding case's agent and program run,
sealed off from the suite), :mod:`.matching` (how one value compares) + :mod:`.scoring`
(calls, turns and answers of a case), :mod:`.stats` (intervals, pass@k, the sign test),
:mod:`.engine` (the engine subclass a case runs on), :mod:`.runner` (order, concurrency,
retries, stopping, resume), :mod:`.report` (the report log and summary), :mod:`.compare`,
:mod:`.cli`.
"""
