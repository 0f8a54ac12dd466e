"""`make bench-peers`: W1 beside LangGraph and AutoGen, in their own venv (:mod:`.run`)."""
