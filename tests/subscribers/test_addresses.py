"""The address test set: each case with its expected outcome."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import given

from mailer.core.arabic import BIDI_CONTROLS
from mailer.core.errors import InvalidAddress
from subscribers.addresses import NO_SMTPUTF8, Address, BatchChecker, canonical, check

IDN = "user@مثال.عراق"
IDN_ASCII = "user@xn--mgbh0fb.xn--mgbtx2b"

ACCEPTED = [
    # (given, relay speaks SMTPUTF8, stored form, envelope form)
    (IDN, False, IDN, IDN_ASCII),  # Arabic IDN domain: works through its IDNA form
    (IDN_ASCII, False, IDN, IDN_ASCII),  # the same address given in IDNA: stored alike
    ("أحمد@مثال.عراق", True, "أحمد@مثال.عراق", None),  # Arabic local part: only with SMTPUTF8
    ("user@ｅｘａｍｐｌｅ.com", False, "user@example.com", "user@example.com"),  # full-width domain: IDNA maps it
    ("User+news@Example.COM", False, "User+news@example.com", "User+news@example.com"),  # +tag kept as is
    ("a" * 64 + "@example.com", False, "a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    ("  padded@example.com ", False, "padded@example.com", "padded@example.com"),
]

REFUSED = [
    # (given, relay speaks SMTPUTF8, words of the reason)
    ("أحمد@مثال.عراق", False, "SMTPUTF8"),  # Arabic local part, relay without SMTPUTF8
    ("ｕｓｅｒ@example.com", True, "full-width"),  # full-width letters imitating "user"
    ("user＠example.com", True, "full-width"),  # full-width at-sign
    ("a" * 65 + "@example.com", True, "too long"),  # 65 characters before the @
    ("user@example.com\r\nBcc: victim@example.org", True, "line breaks"),  # CRLF
    ("user\r@example.com", True, "line breaks"),
    ("user@example.com\n", True, "line breaks"),
    ("user\x00@example.com", True, "NUL"),
    ("not-an-address", True, "@-sign"),
    ("user@localhost", True, "after the @-sign"),
]


@pytest.mark.parametrize(("given", "utf8", "stored", "envelope"), ACCEPTED)
def test_accepted(given: str, utf8: bool, stored: str, envelope: str | None) -> None:
    address = check(given, smtputf8=utf8)
    assert (address.normalized, address.ascii) == (stored, envelope)
    assert address.smtp == (envelope or stored)


@pytest.mark.parametrize(("given", "utf8", "reason"), REFUSED)
def test_refused(given: str, utf8: bool, reason: str) -> None:
    with pytest.raises(InvalidAddress) as caught:
        check(given, smtputf8=utf8)
    assert caught.value.field == "email"
    assert reason.lower() in caught.value.message.lower()
    assert any("\u0600" <= ch <= "\u06ff" for ch in caught.value.public_message)


def test_no_smtputf8_has_its_own_arabic_message() -> None:
    with pytest.raises(InvalidAddress) as caught:
        check("أحمد@example.com", smtputf8=False, field="new_email")
    assert caught.value.public_message == NO_SMTPUTF8 and caught.value.field == "new_email"


@pytest.mark.parametrize("control", sorted(BIDI_CONTROLS))
@pytest.mark.parametrize("where", ["local", "domain", "end"])
def test_every_bidi_control_anywhere_is_refused(control: str, where: str) -> None:
    address = {"local": f"us{control}er@example.com", "domain": f"user@exa{control}mple.com",
               "end": f"user@example.com{control}"}[where]
    with pytest.raises(InvalidAddress):
        check(address)


@given(st.emails(), st.integers(min_value=0), st.sampled_from(sorted(BIDI_CONTROLS | {"\r", "\n", "\x00"})))
def test_a_control_inserted_into_any_address_is_refused(email: str, position: int, control: str) -> None:
    i = position % (len(email) + 1)
    with pytest.raises(InvalidAddress):
        check(email[:i] + control + email[i:])


@given(st.emails())
def test_accepted_addresses_are_stable(email: str) -> None:
    try:
        address = check(email)
    except InvalidAddress:
        return  # st.emails() also makes what strict RFC 5321 lengths refuse
    again = check(address.normalized)
    assert again == address
    assert not any(ch in address.normalized for ch in BIDI_CONTROLS | {"\r", "\n"})


def _validated_canonical(address: str) -> str:
    """What ``canonical`` computed before its shortcut for plain ASCII addresses: the oracle."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address.strip(), check_deliverability=False, allow_smtputf8=True).normalized.lower()
    except EmailNotValidError:
        return address.strip().lower()


@given(
    local=st.text(st.sampled_from("aZ09!#$%&'*+/=?^_`{|}~.-"), min_size=1, max_size=70),
    labels=st.lists(st.text(st.sampled_from("aZ09-"), min_size=0, max_size=12), min_size=1, max_size=4),
)
def test_the_shortcut_for_plain_addresses_agrees_with_email_validator(local: str, labels: list[str]) -> None:
    address = f"{local}@{'.'.join(labels)}"
    assert canonical(address) == _validated_canonical(address)


@pytest.mark.parametrize("address", [IDN, IDN_ASCII, "User@XN--MGBH0FB.xn--mgbtx2b", "Reader@Example.ORG "])
def test_canonical_forms_of_known_addresses(address: str) -> None:
    assert canonical(address) == _validated_canonical(address)


# BatchChecker: check's result and check's error for every address, each domain validated once -----

_DOMAINS = ["example.com", "Example.COM", "مثال.عراق", "xn--mgbh0fb.xn--mgbtx2b", "ｅｘａｍｐｌｅ.com", "localhost",
            "x.test", "a..b.com", "-a.com", "a-.com", "ab--c.com", "1.2.3.4", "[1.2.3.4]", "exam ple.com",
            "example.com ", "example.com\n", "ex\u202eample.com", "b" * 63 + ".com", "b" * 64 + ".com",
            ".".join(["c" * 63] * 3) + ".com", "", "x@example.com", "mail.example.org", "أ.com", "e.x"]
_LOCALS = st.one_of(
    st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,70}", fullmatch=True),
    st.text(min_size=0, max_size=12),
    st.sampled_from(["a", "أحمد", "ｕｓｅｒ", '"q"', " a", "a ", "a..b", ".a", "a.", "a" * 64, "a" * 65]),
)


def _outcome(fn: object, address: str) -> object:
    try:
        return fn(address)  # type: ignore[operator]
    except InvalidAddress as exc:
        return (exc.field, exc.message, exc.public_message)


@given(local=_LOCALS, domain=st.one_of(st.sampled_from(_DOMAINS), st.text(max_size=20)), smtputf8=st.booleans())
def test_the_batch_checker_answers_exactly_as_check(local: str, domain: str, smtputf8: bool) -> None:
    batch = BatchChecker(smtputf8=smtputf8)
    address = f"{local}@{domain}"
    expected = _outcome(lambda a: check(a, smtputf8=smtputf8), address)
    assert _outcome(batch, address) == expected
    assert _outcome(batch, address) == expected  # and again, from its cache of the domain


def test_the_batch_checker_validates_each_domain_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from subscribers import addresses

    calls: list[str] = []
    real = addresses.check

    def counting(address: str, **kwargs: object) -> Address:
        calls.append(address)
        return real(address, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(addresses, "check", counting)
    batch = BatchChecker()
    found = [batch(f"reader{i}@example{i % 3}.org") for i in range(30)]
    assert [a.normalized for a in found] == [f"reader{i}@example{i % 3}.org" for i in range(30)]
    assert sorted(calls) == ["x@example0.org", "x@example1.org", "x@example2.org"]
