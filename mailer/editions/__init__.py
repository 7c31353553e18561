"""Step 2: an edition is which articles go to a list at one scheduled time. Planning, the
editor's curation of a draft, and the schedule that only *asks* for editions.

May import: ``mailer.core``, ``mailer.articles``, ``subscribers``."""
