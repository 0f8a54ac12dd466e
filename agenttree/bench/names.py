"""What ``agenttree bench`` offers by name: the built-in suites and the backends the coding
suite runs on. A module that imports nothing, so the command line builds its parser without
loading the benchmark."""

BUILTIN_SUITES = {"tool_calling": "tool_calling", "tool-calling": "tool_calling",
                  "coding": "coding"}
"""Built-in suite names (``tool-calling`` is also the suite's own name, which names its
report directory) and their directories under :data:`~agenttree.bench.suites.SUITES_DIR`."""
BACKENDS = ("local", "docker")
"""The backends the coding suite runs on."""
