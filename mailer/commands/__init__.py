"""Sub-commands of ``mailer``, one module per feature, registered in ``mailer.cli``."""
