"""Tools agents call. ``agenttree.tools.builtin`` registers the built-in ones."""
