"""Step 1 of the flow: articles come in (a feed, the site's API payload, the demo data) and are
stored idempotently by the site's own guid.

May import: ``mailer.core``."""
