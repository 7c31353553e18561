"""What every step of the flow shares: settings, the exception tree, the database and its
tables, Arabic text helpers, message identity and headers, and the one token signer.

Imported by every other package; imports none of them."""
