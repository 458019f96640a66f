"""The statement's sections, one module per topic.

Each module exposes ``section(ctx) -> Section | None`` and decides what its part
of the statement says, from the declaration only. None of them formats output
or reads a file; :mod:`covenant.notice.statement` puts them in order.
"""
