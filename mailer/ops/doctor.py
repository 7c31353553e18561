"""``mailer doctor``: the checks beyond the relay and database (``checks.py``): the settings that
production needs, the DKIM key, and the DNS records to publish for the sender's domain (SPF, DKIM,
DMARC), made from the settings alone (no DNS look-up: this machine may not reach the Internet)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer.core.settings import Settings
from mailer.delivery import dkim
from mailer.ops.checks import Check


@dataclass(frozen=True)
class Record:
    name: str
    value: str
    why: str

    def zone_line(self) -> str:
        return dkim.txt_record(self.name, self.value)


def settings_checks(settings: Settings) -> list[Check]:
    """What a production setup needs beyond valid values (each value was already checked on load)."""
    out = []
    base = urlsplit(settings.base_url)
    local = base.hostname in ("127.0.0.1", "localhost", "::1")
    out.append(Check("MAILER_BASE_URL", base.scheme == "https" or local,
                     f"{settings.base_url}" + ("" if base.scheme == "https" or local
                                               else ": links in mail must be https in production")))
    relay = settings.smtp
    out.append(Check("MAILER_SMTP_URL", True, f"{relay.host}:{relay.port}, TLS {relay.tls}" if relay else
                     "unset: mail goes to the built-in development mailbox, not to readers"))
    storage = settings.shared_limits
    out.append(Check("MAILER_RATE_STORAGE", True, {
        "process": "process: run one sending process (serve or one worker) on this database",
        "database": "database: one send rate and per-domain concurrency for all workers (PostgreSQL)",
    }.get(storage, "redis: one send rate and per-domain concurrency for all workers")))
    out.append(Check("MAILER_SENDER_ADDRESS", not settings.mail_domain.endswith(("example.com", "example.org")),
                     settings.sender_address))
    return out


def dkim_check(settings: Settings) -> tuple[Check, Record | None]:
    """The key loads, is RSA of 2048 bits or more; and its DNS record."""
    if settings.dkim_key_file is None or settings.dkim_selector is None:
        return Check("DKIM", False, "no key: run `mailer dkim keygen --selector NAME` and set "
                                    "MAILER_DKIM_SELECTOR and MAILER_DKIM_KEY_FILE"), None
    try:
        pem = settings.dkim_key_file.read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError) as exc:
        return Check("DKIM", False, f"MAILER_DKIM_KEY_FILE: {settings.dkim_key_file} cannot be read: {exc}"), None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        return Check("DKIM", False, "MAILER_DKIM_KEY_FILE: must be an RSA key of 2048 bits or more"), None
    domain = settings.dkim_signing_domain
    record = Record(f"{settings.dkim_selector}._domainkey.{domain}", f"v=DKIM1; k=rsa; p={dkim.public_key_b64(pem)}",
                    "the public half of the signing key")
    return Check("DKIM", True, f"{key.key_size}-bit RSA key, selector {settings.dkim_selector}, d={domain}"), record


def ed25519_record(settings: Settings) -> Record | None:
    """The DNS record of the Ed25519 key signing beside the RSA one (RFC 8463), when set and readable."""
    if settings.dkim_ed25519_key_file is None or settings.dkim_ed25519_selector is None:
        return None
    try:
        pem = settings.dkim_ed25519_key_file.read_bytes()
        value = f"v=DKIM1; k=ed25519; p={dkim.ed25519_public_b64(pem)}"
    except (OSError, ValueError, TypeError):
        return None  # the service refuses to start with it, naming MAILER_DKIM_ED25519_KEY_FILE
    name = f"{settings.dkim_ed25519_selector}._domainkey.{settings.dkim_signing_domain}"
    return Record(name, value, "the public half of the Ed25519 key (a second signature, beside RSA)")


def dns_records(settings: Settings) -> list[Record]:
    """SPF and DMARC for the sender's domain (and the bounce domain, which SPF checks)."""
    domain = settings.mail_domain
    relay = settings.smtp
    if relay is None:
        mechanism = "mx"
    else:
        try:
            address = ipaddress.ip_address(relay.host)
        except ValueError:
            mechanism = f"a:{relay.host}" if relay.host not in ("localhost",) else "mx"
        else:
            mechanism = "mx" if address.is_loopback else f"ip{address.version}:{address}"
    records = []
    bounce_domain = settings.return_path.rsplit("@", 1)[1]
    for name in dict.fromkeys((bounce_domain, domain)):
        records.append(Record(name, f"v=spf1 {mechanism} -all",
                              "the hosts that may send for the domain: replace with your relay's or provider's "
                              "(e.g. include:...) if mail leaves through another host"))
    records.append(Record(f"_dmarc.{domain}", f"v=DMARC1; p=none; rua=mailto:dmarc@{domain}; adkim=r; aspf=r",
                          "start with p=none and read the reports; then p=quarantine"))
    return records
