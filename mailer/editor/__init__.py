"""What editors use: previews of every e-mail kind as it will be sent, the checks shown beside
them (size, links, SpamAssassin), and editor accounts.

May import: every capability package (it previews them all); not ``web`` or ``cli``."""
