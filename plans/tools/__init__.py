"""Python tools for plans/tools.edn (imported from the plan's directory as ``tools.mytools``)."""
