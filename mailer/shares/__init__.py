""""Send this article to a friend": the checks, tokens, limits and CAPTCHA that keep it from
being a spam relay, the share e-mail, and the records that limits are counted from.

May import: ``mailer.core`` to ``mailer.delivery``, and ``subscribers``."""
