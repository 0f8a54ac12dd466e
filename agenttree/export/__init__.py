"""``agenttree export``: a run's trace in formats other tools open (docs/traces.md)."""
