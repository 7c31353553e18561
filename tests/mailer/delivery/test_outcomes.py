"""The reply table: what each kind of SMTP reply means, with the big providers' own wording."""

from __future__ import annotations

import pytest

from mailer.delivery.outcomes import Verdict, classify
from subscribers.bounces import judge

GONE = [  # the mailbox does not exist: suppressed at the first bounce
    "550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking",  # Gmail
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",  # Microsoft
    "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0]",  # Yahoo
    "552 1 Requested mail action aborted, mailbox not found",  # Yahoo / AOL
    "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in virtual mailbox table",  # Postfix
    "550 No Such User Here",  # cPanel's Exim
    "550 5.1.2 Host unknown: bad destination system address",
]
REFUSED = [  # the message or the sender: nobody's mailbox is to blame
    "550 5.7.1 [203.0.113.10] Our system has detected that this message is likely unsolicited mail",  # Gmail
    "550 5.7.26 This mail has been blocked because the sender is unauthenticated",  # Gmail
    "550 5.7.1 Unfortunately, messages from [203.0.113.10] weren't sent. Please contact your Internet service "
    "provider since part of their network is on our block list (S3150)",  # Microsoft
    "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",  # Microsoft
    "554 5.7.9 Message not accepted for policy reasons",  # Yahoo
    "553 5.7.2 [TSS09] All messages from 203.0.113.10 will be permanently deferred",  # Yahoo
    "552 5.3.4 Message size exceeds fixed maximum message size",
    "554 5.6.0 Message contains invalid header",
    "554 5.7.1 <a@example.org>: Relay access denied",  # our relay, misconfigured
    "550 Message rejected: our filter thinks it is spam",  # no enhanced code
]
HARD = [  # about the recipient, but not definite: scored
    "550 5.2.1 The email account that you tried to reach is disabled",  # Gmail
    "552 5.2.2 The email account that you tried to reach is over quota",
    "550 5.4.1 Recipient address rejected: Access denied",  # Microsoft: usually, not always, unknown
    "550 Requested action not taken: mailbox unavailable",
    "5.0.0",
    "",
]


@pytest.mark.parametrize("text", GONE)
def test_a_mailbox_that_does_not_exist(text: str) -> None:
    assert judge(text) == "gone"
    assert classify(550, text, stage="RCPT") is Verdict.FAILED


@pytest.mark.parametrize("text", REFUSED)
def test_a_refusal_of_the_message_or_the_sender(text: str) -> None:
    assert judge(text) == "refused"
    assert classify(554, text, after_data=True) is Verdict.REFUSED
    assert classify(550, text, stage="RCPT") is Verdict.REFUSED


@pytest.mark.parametrize("text", HARD)
def test_other_permanent_failures(text: str) -> None:
    assert judge(text) == "hard"
    assert classify(550, text, stage="RCPT") is Verdict.FAILED


def test_the_rest_of_the_table() -> None:
    assert classify(250, "2.0.0 Ok: queued", after_data=True) is Verdict.SENT
    assert classify(451, "4.7.1 Try again later, spam suspected", after_data=True) is Verdict.RETRY  # 4xx waits
    assert classify(None, after_data=True) is Verdict.UNKNOWN
    assert classify(None) is Verdict.RETRY
    assert classify(550, "5.1.1 User unknown", stage="MAIL") is Verdict.REFUSED  # MAIL FROM names no recipient
