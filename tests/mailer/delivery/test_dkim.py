"""DKIM: our OpenSSL-backed signer, checked by dkimpy's own verifier."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import dkim as dkimpy
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mailer.cli.main import app
from mailer.core.errors import SettingsError
from mailer.core.settings import Settings
from mailer.delivery import dkim
from mailer.delivery.service import Service
from tests.conftest import Clock
from tests.support import factories
from tests.support.smtpd import SMTPServer

SELECTOR = "mail2026"
DOMAIN = "news.example.com"


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return dkim.generate_key()


def dns_for(key_pem: bytes) -> Callable[..., bytes]:
    record = f"v=DKIM1; k=rsa; p={dkim.public_key_b64(key_pem)}".encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode(), name
        return record

    return lookup


def signed_tags(message: bytes) -> dict[str, str]:
    header = re.search(rb"^DKIM-Signature:(.*?)\r\n(?![ \t])", message, re.S | re.M)
    assert header is not None
    value = re.sub(r"\s+", "", header.group(1).decode())
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


@pytest.fixture
def dkim_settings(make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer,
                  tmp_path: Path, key_pem: bytes) -> Settings:
    key_file = tmp_path / "dkim.key"
    dkim.write_key(key_file, key_pem)
    return make_settings(database_url=database_url, smtp_url=smtp_server.url, dkim_selector=SELECTOR,
                         dkim_key_file=key_file)


async def test_sent_digests_verify_with_dkimpy_and_sign_the_list_headers(
    dkim_settings: Settings, smtp_server: SMTPServer, clock: Clock, key_pem: bytes
) -> None:
    svc = await Service(dkim_settings, clock=clock).start()
    try:
        await factories.ingest_items(svc, 3, clock.now)
        await factories.subscriber(svc, "reader@example.org", name="أحمد")
        await factories.subscriber(svc, "other@example.net")
        await svc.run_list("daily", clock.now)
        assert await svc.sender.drain() == {"sent": 2}
    finally:
        await svc.close()
    for received in smtp_server.received:
        assert dkimpy.verify(received.data, dnsfunc=dns_for(key_pem))
        tags = signed_tags(received.data)
        signed = tags["h"].lower().split(":")
        for header in ("from", "to", "subject", "date", "message-id", "list-id",
                       "list-unsubscribe", "list-unsubscribe-post"):
            assert header in signed, header
        assert (tags["d"], tags["s"], tags["a"], tags["c"]) == (DOMAIN, SELECTOR, "rsa-sha256", "relaxed/relaxed")
        assert int(tags["t"]) == int(clock.now.timestamp())
        # a receiver sees any change to a signed header or to the body
        tampered = received.data.replace(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
                                         b"List-Unsubscribe-Post: List-Unsubscribe=Two-Clicks")
        assert tampered != received.data
        assert not dkimpy.verify(tampered, dnsfunc=dns_for(key_pem))
        added = b"List-Id: spoof <x.example>\r\n" + received.data
        assert not dkimpy.verify(added, dnsfunc=dns_for(key_pem))  # over-signed: no second List-Id


@pytest.mark.parametrize("processes", [1, 0], ids=["process pool", "threads"])
async def test_a_signing_pool_signs_the_same_way(key_pem: bytes, processes: int) -> None:
    signer = dkim.Signer(SELECTOR, DOMAIN, key_pem)
    pool = dkim.SigningPool(signer, processes=processes)
    messages = [
        b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n",
        b"From: a@news.example.com\nTo: c@example.org\nSubject: lone line ends\n\nbody  with\tspaces \n",
    ]
    try:
        one = await pool.sign(messages[0], 1_790_000_000)
        many = await pool.sign_many(messages, 1_790_000_000)
        canonical = await pool.sign_many(messages[:1], 1_790_000_000, canonical=True)
    finally:
        pool.close()
    expected = [signer.sign(m, 1_790_000_000) for m in messages]  # RSA PKCS#1 v1.5 is deterministic
    assert [one] == canonical == expected[:1] and many == expected
    assert all(dkimpy.verify(m, dnsfunc=dns_for(key_pem)) for m in many)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"Zq9+/", b" ", b"  ", b"\t", b"\r\n", b"\n", b"\r"]), max_size=40))
def test_the_shortcut_in_body_canonicalisation_changes_nothing(pieces: list[bytes]) -> None:
    body = b"".join(pieces)
    reference = dkim._WSP.sub(b" ", dkim._WSP_EOL.sub(b"\r\n", body)).rstrip(b"\r\n")
    assert dkim.canonical_body(body) == (reference + b"\r\n" if reference else b"")


header_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40)
space = st.sampled_from([" ", "  ", "\t", " \t "])


@hsettings(max_examples=60, deadline=None)
@given(
    subject=st.lists(header_text, min_size=1, max_size=6), gaps=st.lists(space, min_size=6, max_size=6),
    body_lines=st.lists(st.tuples(header_text, space, st.booleans()), max_size=8),
    trailing=st.integers(0, 3), fold=st.booleans(),
)
def test_canonicalisation_matches_dkimpy(
    key_pem: bytes, subject: list[str], gaps: list[str], body_lines: list[tuple[str, str, bool]],
    trailing: int, fold: bool,
) -> None:
    words = "".join(w + g for w, g in zip(subject, gaps, strict=False)).strip()
    subject_field = words.replace(" ", "\r\n ", 1) if fold and " " in words else words
    body = "".join(text + (sp if end_space else "") + "\r\n" for text, sp, end_space in body_lines)
    message = (
        f"From: a@news.example.com\r\nTo:  b@example.org \r\nSubject: {subject_field}\r\n"
        f"List-Id: x <daily.news.example.com>\r\n\r\n{body}" + "\r\n" * trailing
    ).encode()
    signed = dkim.Signer(SELECTOR, DOMAIN, key_pem).sign(message, 1_790_000_000)
    assert dkimpy.verify(signed, dnsfunc=dns_for(key_pem))


def test_keygen_writes_a_key_dkimpy_can_use_and_prints_the_record(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILER_SENDER_ADDRESS", f"newsletter@{DOMAIN}")
    runner = CliRunner()
    result = runner.invoke(app, ["dkim", "keygen", "--selector", SELECTOR, "--out", "k.pem"])
    assert result.exit_code == 0, result.output
    pem = (tmp_path / "k.pem").read_bytes()
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    from cryptography.hazmat.primitives import serialization

    assert serialization.load_pem_private_key(pem, None).key_size == 2048
    output = " ".join(result.output.split())
    assert f"{SELECTOR}._domainkey.{DOMAIN}. IN TXT" in output
    published = "".join(re.findall(r'"([^"]*)"', output))
    assert published.startswith("v=DKIM1; k=rsa; p=")
    # dkimpy signs with the written key and verifies against the printed record
    message = b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    signed = dkimpy.sign(message, SELECTOR.encode(), DOMAIN.encode(), pem)
    assert dkimpy.verify(signed + message, dnsfunc=lambda name, timeout=5: published.encode())
    again = runner.invoke(app, ["dkim", "keygen", "--selector", SELECTOR, "--out", "k.pem"])
    assert again.exit_code == 2 and "--out" in again.output  # never overwritten
    assert (tmp_path / "k.pem").read_bytes() == pem


def test_dkim_settings_must_come_together(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        make_settings(dkim_selector=SELECTOR)
    assert caught.value.key == "MAILER_DKIM_KEY_FILE"
    with pytest.raises(SettingsError) as caught:
        make_settings(dkim_selector=SELECTOR, dkim_key_file=tmp_path / "missing.key")
    assert caught.value.key == "MAILER_DKIM_KEY_FILE" and "not a file" in str(caught.value)
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    settings = make_settings(dkim_selector=SELECTOR, dkim_key_file=bad)
    with pytest.raises(SettingsError) as caught:
        dkim.Signer.from_settings(settings)
    assert caught.value.key == "MAILER_DKIM_KEY_FILE"


# -- Ed25519 beside RSA (RFC 8463) ------------------------------------------------------------

ED_SELECTOR = "ed2026"


@pytest.fixture(scope="module")
def ed_pem() -> bytes:
    return dkim.generate_ed25519_key()


def dns_both(key_pem: bytes, ed_pem: bytes) -> Callable[..., bytes]:
    """dkimpy's DNS lookup, answered from the records ``mailer dkim keygen`` prints."""
    records = {
        f"{SELECTOR}._domainkey.{DOMAIN}.": f"v=DKIM1; k=rsa; p={dkim.public_key_b64(key_pem)}",
        f"{ED_SELECTOR}._domainkey.{DOMAIN}.": f"v=DKIM1; k=ed25519; p={dkim.ed25519_public_b64(ed_pem)}",
    }

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        return records[name.decode()].encode()

    return lookup


def verify_both(message: bytes, lookup: Callable[..., bytes]) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of ``message``, top down."""
    checker = dkimpy.DKIM(message)
    count = len(re.findall(rb"^DKIM-Signature:", message, re.M))
    return [bool(checker.verify(idx=i, dnsfunc=lookup)) for i in range(count)]


def test_ed25519_signs_beside_rsa_and_dkimpy_verifies_both(key_pem: bytes, ed_pem: bytes) -> None:
    message = (b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n"
               b"List-Id: <daily.news.example.com>\r\n\r\nbody  with\ttabs \r\n\r\n")
    signer = dkim.Signer(SELECTOR, DOMAIN, key_pem, ed25519=(ED_SELECTOR, ed_pem))
    signed = signer.sign(message, 1_790_000_000)
    algorithms = re.findall(rb"a=([a-z0-9-]+);", signed)
    assert algorithms == [b"ed25519-sha256", b"rsa-sha256"]  # both, Ed25519 never instead of RSA
    lookup = dns_both(key_pem, ed_pem)
    assert verify_both(signed, lookup) == [True, True]
    assert verify_both(signed.replace(b"Subject: x", b"Subject: y"), lookup) == [False, False]
    # the raw 32-byte public key in p= (not a SubjectPublicKeyInfo)
    import base64

    assert len(base64.b64decode(dkim.ed25519_public_b64(ed_pem))) == 32
    # the signer crosses into the signing processes with both keys
    import pickle

    assert pickle.loads(pickle.dumps(signer)).sign(message, 1_790_000_000) == signed  # noqa: S301 (our own bytes)


async def test_sent_digests_carry_both_signatures(
    make_settings: Callable[..., Settings], database_url: str, smtp_server: SMTPServer, tmp_path: Path,
    clock: Clock, key_pem: bytes, ed_pem: bytes,
) -> None:
    rsa_file, ed_file = tmp_path / "rsa.key", tmp_path / "ed.key"
    dkim.write_key(rsa_file, key_pem)
    dkim.write_key(ed_file, ed_pem)
    settings = make_settings(database_url=database_url, smtp_url=smtp_server.url, dkim_selector=SELECTOR,
                             dkim_key_file=rsa_file, dkim_ed25519_selector=ED_SELECTOR,
                             dkim_ed25519_key_file=ed_file, dkim_processes=1)
    svc = await Service(settings, clock=clock).start()
    try:
        await factories.ingest_items(svc, 2, clock.now)
        await factories.subscriber(svc, "reader@example.org", name="أحمد")
        await svc.run_list("daily", clock.now)
        assert await svc.sender.drain() == {"sent": 1}
    finally:
        await svc.close()
    assert len(smtp_server.received) == 1
    assert verify_both(smtp_server.received[0].data, dns_both(key_pem, ed_pem)) == [True, True]


def test_keygen_ed25519_prints_the_rfc8463_record(tmp_path: Path, monkeypatch, key_pem: bytes) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MAILER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILER_SENDER_ADDRESS", f"newsletter@{DOMAIN}")
    result = CliRunner().invoke(app, ["dkim", "keygen", "--algorithm", "ed25519", "--selector", ED_SELECTOR,
                                      "--out", "ed.pem"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ed.pem").stat().st_mode & 0o777 == 0o600
    output = " ".join(result.output.split())
    assert f"{ED_SELECTOR}._domainkey.{DOMAIN}. IN TXT" in output
    assert f"MAILER_DKIM_ED25519_SELECTOR={ED_SELECTOR}" in output and "MAILER_DKIM_ED25519_KEY_FILE=" in output
    published = "".join(re.findall(r'"([^"]*)"', output))
    assert published.startswith("v=DKIM1; k=ed25519; p=")
    ed_pem = (tmp_path / "ed.pem").read_bytes()
    signed = dkim.Signer(SELECTOR, DOMAIN, key_pem, ed25519=(ED_SELECTOR, ed_pem)).sign(
        b"From: a@news.example.com\r\nTo: b@example.org\r\nSubject: x\r\n\r\nbody\r\n")

    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{ED_SELECTOR}._domainkey.{DOMAIN}.".encode(), name
        return published.encode()

    assert dkimpy.DKIM(signed).verify(idx=0, dnsfunc=lookup)  # the Ed25519 one, against the printed record
    bad = CliRunner().invoke(app, ["dkim", "keygen", "--algorithm", "dsa", "--selector", "x", "--out", "x.pem"])
    assert bad.exit_code == 2 and "--algorithm" in bad.output


def test_ed25519_is_only_ever_added_beside_rsa(
    make_settings: Callable[..., Settings], tmp_path: Path, key_pem: bytes, ed_pem: bytes
) -> None:
    ed_file, rsa_file = tmp_path / "ed.key", tmp_path / "rsa.key"
    dkim.write_key(ed_file, ed_pem)
    dkim.write_key(rsa_file, key_pem)
    with pytest.raises(SettingsError) as caught:
        make_settings(dkim_ed25519_selector=ED_SELECTOR, dkim_ed25519_key_file=ed_file)
    assert caught.value.key == "MAILER_DKIM_ED25519_KEY_FILE" and "never instead" in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        make_settings(dkim_selector=SELECTOR, dkim_key_file=rsa_file, dkim_ed25519_selector=ED_SELECTOR)
    assert caught.value.key == "MAILER_DKIM_ED25519_KEY_FILE"
    # an RSA key where the Ed25519 one should be is named
    settings = make_settings(dkim_selector=SELECTOR, dkim_key_file=rsa_file, dkim_ed25519_selector=ED_SELECTOR,
                             dkim_ed25519_key_file=rsa_file)
    with pytest.raises(SettingsError) as caught:
        dkim.Signer.from_settings(settings)
    assert caught.value.key == "MAILER_DKIM_ED25519_KEY_FILE" and "not an Ed25519 key" in str(caught.value)


def test_signing_processes_by_default_only_where_the_sending_processes_leave_cores() -> None:
    assert dkim.signing_processes(None, senders=1, cores=2) == 2  # the Python parts beside the event loop
    assert dkim.signing_processes(None, senders=2, cores=4) == 2
    assert dkim.signing_processes(None, senders=2, cores=2) == 0  # threads: no trip to another process
    assert dkim.signing_processes(None, senders=1, cores=1) == 0
    assert dkim.signing_processes(3, senders=2, cores=2) == 3  # MAILER_DKIM_PROCESSES decides
    assert dkim.signing_processes(0, senders=1, cores=8) == 0
