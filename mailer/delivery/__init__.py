"""Steps 4 and 5: the durable outbox (leases, compare-and-set), the sender loop, the SMTP
transport with pipelining, limits, DKIM and VERP, the development mailbox, and ``Service``,
which wires them for one process.

May import: ``mailer.core``, ``mailer.articles``, ``mailer.editions``, ``mailer.compose``,
``subscribers``."""
