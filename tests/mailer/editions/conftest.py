from tests.support.cli import cli_env  # noqa: F401  (the real `mailer` command, pointed at the test's settings)
