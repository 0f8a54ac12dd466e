"""agenttree: trees of LLM agents on Trio."""
