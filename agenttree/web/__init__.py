"""The web view: ``agenttree serve RUN_DIR`` (a page, a JSON API and a websocket tail of the
event log, guarded by a token) and ``agenttree tail ws://…`` (the same stream in a terminal).

See ``docs/web.md``. Modules: :mod:`.auth` (the token and the Origin rule), :mod:`.hub` (one
tailer per run, fanned out to bounded per-client buffers), :mod:`.reports` (benchmark report
listing), :mod:`.server` (the ASGI app and hypercorn), :mod:`.tail` (the terminal client),
:mod:`.cli` (the two subcommands).
"""
