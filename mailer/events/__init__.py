"""Step 6: what comes back. Bounce and complaint reports (DSN, ARF), the mailboxes they arrive
in, and ``mailto:`` unsubscribes; each acts on subscribers through the subscription flows.

May import: everything before it in the flow (``delivery`` and earlier) and ``subscribers``."""
