"""Step 3: bytes. Jinja2 renders each e-mail kind and premailer inlines its CSS once per
variant (off the event loop); ``message`` builds the MIME once and fills personal slots per
recipient. Pure: no sockets, no clock.

May import: ``mailer.core``, ``mailer.articles``, ``mailer.editions``, ``subscribers``."""
