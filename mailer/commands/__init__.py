"""Sub-commands of ``mailer``, one module per feature."""
