"""The event log's durability modes (:class:`~agenttree.log_writer.EventLog` says what each
one does), in a module of their own so the command line can offer them without importing the
log."""

DURABILITY = ("none", "batch", "every")
