"""The ``mailer`` command: ``main`` is the Typer root; one module per command group.

An edge: may import anything except ``mailer.web`` (``serve`` imports the app lazily)."""
