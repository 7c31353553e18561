"""DKIM signatures (RFC 6376: rsa-sha256, relaxed/relaxed) over the final bytes of a message,
and optionally a second one beside it with ed25519-sha256 (RFC 8463): many receivers verify only
RSA, so Ed25519 is only ever added, never used instead.

Canonicalisation and hashing are a few lines of Python; the RSA step is OpenSSL's, through the
``cryptography`` package (dkimpy's own pure-Python RSA costs ~6 ms a message). A ``Signer`` is
picklable, so ``SigningPool`` can run it in worker processes, off the event loop. dkimpy is the
reference implementation: the tests verify our signatures with its verifier.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import multiprocessing
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mailer.core.errors import MailerError, SettingsError
from mailer.core.settings import Settings

# Signed when present, in this order; the bulk-mail headers Gmail and Yahoo look at included.
SIGNED_HEADERS = (
    "from", "to", "cc", "reply-to", "subject", "date", "message-id", "list-id",
    "list-unsubscribe", "list-unsubscribe-post", "mime-version", "content-type",
)
# Named once more than they occur, so that nobody can add a second one after signing.
OVERSIGNED = ("from", "subject", "list-id", "list-unsubscribe", "list-unsubscribe-post")

_WSP_EOL = re.compile(rb"[\t ]+\r\n")
_WSP = re.compile(rb"[\t ]+")
_LONE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_HEADER_START = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:", re.MULTILINE)
_LINE = 76


def canonical_body(body: bytes) -> bytes:
    """Relaxed body canonicalisation (RFC 6376 3.4.4)."""
    if _has_wsp_run(body):
        body = _WSP.sub(b" ", _WSP_EOL.sub(b"\r\n", body))
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


def _has_wsp_run(data: bytes) -> bool:
    """Whether relaxed canonicalisation changes anything inside ``data``: a tab, two spaces, or a
    space before a line end. Base64 bodies have a few single spaces only (in MIME part headers),
    so this is a handful of memchr calls rather than two regex passes over 30 KB."""
    if b"\t" in data:
        return True
    at = data.find(b" ")
    while at != -1:
        following = data[at + 1 : at + 2]
        if following == b" " or following == b"\r" or following == b"\n" or not following:
            return True
        at = data.find(b" ", at + 2)
    return False


def canonical_header(name: bytes, value: bytes) -> bytes:
    """Relaxed header canonicalisation (RFC 6376 3.4.2), without the final CRLF."""
    value = value.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP.sub(b" ", value)
    return name.strip().lower() + b":" + value.strip()


def split_message(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Header fields as (name, raw value with its folding) in order, and the body."""
    head, sep, body = message.partition(b"\r\n\r\n")
    if not sep:
        head, body = message.removesuffix(b"\r\n"), b""
    fields: list[tuple[bytes, bytes]] = []
    starts = [m.start() for m in _HEADER_START.finditer(head)]
    for start, end in zip(starts, [*starts[1:], len(head)], strict=True):
        name, _, value = head[start:end].partition(b":")
        fields.append((name, value.removesuffix(b"\r\n")))
    return fields, body


def _select(fields: list[tuple[bytes, bytes]], names: list[str]) -> list[tuple[bytes, bytes]]:
    """The instances ``h=`` names, bottom-up for repeated names; a missing one signs as empty."""
    by_name: dict[str, list[tuple[bytes, bytes]]] = {}
    for field in fields:
        by_name.setdefault(field[0].strip().lower().decode(), []).append(field)
    chosen = []
    for name in names:
        instances = by_name.get(name)
        if instances:
            chosen.append(instances.pop())
    return chosen


def _fold_tags(tags: list[str]) -> str:
    """Tag list with "; " between tags, folded before a tag (or inside ``h=`` at a ":")."""
    lines = list(_folded_head(tuple(tags[:-2])))  # the same for every message of a batch
    _fold(lines, tags[-2], last=False)
    _fold(lines, tags[-1], last=True)
    lines[0] = lines[0].lstrip()
    return "\r\n\t".join(lines)


@functools.lru_cache(maxsize=64)
def _folded_head(tags: tuple[str, ...]) -> tuple[str, ...]:
    lines = ["                "]  # room for "DKIM-Signature: " on the first line
    for tag in tags:
        _fold(lines, tag, last=False)
    return tuple(lines)


def _fold(lines: list[str], tag: str, *, last: bool) -> None:
    text = tag + ("" if last else ";")
    pieces = re.split(r"(?<=:)", text) if tag.startswith("h=") else [text]
    for piece in pieces:
        if lines[-1] and (len(lines[-1]) + len(piece) + 1 > _LINE - 2 or tag == "b="):
            lines.append("")
        lines[-1] += (" " if lines[-1] and not lines[-1].endswith(":") else "") + piece


class Signer:
    """Signs with one (selector, domain, RSA key), and with ``ed25519`` = (selector, key) too
    when given: two ``DKIM-Signature`` fields over the same headers and body hash. ``sign`` is
    pure given ``timestamp``."""

    def __init__(
        self, selector: str, domain: str, key_pem: bytes, *, ed25519: tuple[str, bytes] | None = None
    ) -> None:
        self.selector = selector
        self.domain = domain
        self.key_pem = key_pem
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the key is not an RSA key")
        if key.key_size < 1024:
            raise ValueError(f"the key has {key.key_size} bits; receivers want 1024 at least, 2048 is usual")
        self._key = key
        self.ed25519 = ed25519
        self._ed_key: Ed25519PrivateKey | None = None
        if ed25519 is not None:
            self._ed_key = load_ed25519(ed25519[1])

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        if settings.dkim_key_file is None or settings.dkim_selector is None:
            return None
        try:
            rsa_pem = settings.dkim_key_file.read_bytes()
        except OSError as exc:
            raise SettingsError("MAILER_DKIM_KEY_FILE", f"cannot use {str(settings.dkim_key_file)!r}: {exc}") from None
        ed: tuple[str, bytes] | None = None
        ed_file = settings.dkim_ed25519_key_file
        if ed_file is not None and settings.dkim_ed25519_selector is not None:
            try:
                ed = (settings.dkim_ed25519_selector, ed_file.read_bytes())
                load_ed25519(ed[1])
            except (OSError, ValueError, TypeError) as exc:
                raise SettingsError("MAILER_DKIM_ED25519_KEY_FILE", f"cannot use {str(ed_file)!r}: {exc}") from None
        try:
            return cls(settings.dkim_selector, settings.dkim_signing_domain, rsa_pem, ed25519=ed)
        except (ValueError, TypeError) as exc:
            raise SettingsError("MAILER_DKIM_KEY_FILE", f"cannot use {str(settings.dkim_key_file)!r}: {exc}") from None

    def __getstate__(self) -> dict[str, Any]:
        return {"selector": self.selector, "domain": self.domain, "key_pem": self.key_pem, "ed25519": self.ed25519}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["selector"], state["domain"], state["key_pem"], ed25519=state.get("ed25519")
        )

    def sign(self, message: bytes, timestamp: int | None = None, *, canonical: bool = False) -> bytes:
        """``message`` with its ``DKIM-Signature`` header(s) in front; ``canonical``: it has CRLF
        line ends only (as composed messages do), so the check for lone CR or LF is skipped."""
        if not canonical:
            message = _crlf(message)
        return self.header(message, timestamp) + message

    def header(self, message: bytes, timestamp: int | None = None) -> bytes:
        """The ``DKIM-Signature`` header field(s) (each with its CRLF) for ``message``, which has
        CRLF line ends only: the Ed25519 one (when configured) above the RSA one."""
        fields, body = split_message(message)
        present = [n.strip().lower().decode() for n, _ in fields]
        names = [name for name in SIGNED_HEADERS for _ in range(present.count(name))]
        names += [name for name in OVERSIGNED if name in present]
        body_hash = base64.b64encode(hashlib.sha256(canonical_body(body)).digest()).decode()
        signed = b"".join(canonical_header(n, v) + b"\r\n" for n, v in _select(fields, names))
        out = b""
        if self.ed25519 is not None and self._ed_key is not None:
            ed_key = self._ed_key
            out += self._field(  # RFC 8463: PureEdDSA over the SHA-256 of the signed data
                "ed25519-sha256", self.ed25519[0], timestamp, names, body_hash, signed,
                lambda data: ed_key.sign(hashlib.sha256(data).digest()),
            )
        rsa_key = self._key
        return out + self._field(
            "rsa-sha256", self.selector, timestamp, names, body_hash, signed,
            lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256()),
        )

    def _field(
        self, algorithm: str, selector: str, timestamp: int | None, names: list[str], body_hash: str,
        signed: bytes, sign: Callable[[bytes], bytes],
    ) -> bytes:
        tags = ["v=1", f"a={algorithm}", "c=relaxed/relaxed", f"d={self.domain}", f"s={selector}"]
        if timestamp is not None:
            tags.append(f"t={timestamp}")
        tags += [f"h={':'.join(names)}", f"bh={body_hash}", "b="]
        value = _fold_tags(tags)
        signature = sign(signed + canonical_header(b"DKIM-Signature", value.encode()))
        b64 = base64.b64encode(signature).decode()
        folded = "\r\n\t ".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        return f"DKIM-Signature: {value}{folded}\r\n".encode()


def load_ed25519(key_pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PEM (PKCS #8, as ``generate_ed25519_key`` writes it)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the key is not an Ed25519 key")
    return key


def _crlf(message: bytes) -> bytes:
    crlf = message.count(b"\r\n")
    if message.count(b"\r") != crlf or message.count(b"\n") != crlf:  # a lone CR or LF
        message = _LONE_LINE_END.sub(b"\r\n", message)
    return message


def signing_processes(configured: int | None, senders: int, cores: int) -> int:
    """How many signing processes a sending process starts: ``MAILER_DKIM_PROCESSES``, or by
    default the cores divided between the sending processes, and none (threads of the sending
    process) once the sending processes fill the cores. Then each trip to another process (the
    whole message there, its header fields back) costs more than it frees (the README's
    Throughput section has the figures); with one sending process, signing processes win."""
    if configured is not None:
        return configured
    return cores // senders if senders < cores else 0


def _thread_headers(signer: Signer, messages: list[bytes], timestamp: int | None) -> list[bytes]:
    return [signer.header(m, timestamp) for m in messages]


def _serve(conn: Connection, signer: Signer) -> None:
    """A signing process: (messages, timestamp) in, their headers out, until ``None`` or EOF."""
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        messages, timestamp = job
        conn.send([signer.header(m, timestamp) for m in messages])


class SigningFailed(MailerError):
    """A signing process died with messages in hand (they were not sent; it is replaced)."""


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection

    def call(self, messages: list[bytes], timestamp: int | None) -> list[bytes]:
        """In an I/O thread: one round trip. A process that dies breaks only its own pipe."""
        try:
            self.conn.send((messages, timestamp))
            headers: list[bytes] = self.conn.recv()
        except (EOFError, OSError) as exc:
            raise SigningFailed(f"the DKIM signing process {self.process.pid} died: {exc!r}") from None
        return headers

    def stop(self, timeout: float = 2.0) -> None:
        with suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


class SigningPool:
    """Signs off the event loop, a list of messages per call: in ``processes`` worker processes
    (spawned: safe beside threads and the event loop) or, with 0, in ``threads`` threads of this
    process (OpenSSL's RSA and hashlib release the GIL, so they run beside the event loop).

    Each process has its own pipe rather than ``concurrent.futures``' shared result queue: there,
    a worker killed halfway through writing a result leaves the pool's reader waiting for the
    rest for ever (and ``shutdown`` with it). Here a dead process fails the one call it had, with
    ``SigningFailed``, and is replaced."""

    def __init__(self, signer: Signer, processes: int = 0, *, threads: int = 2) -> None:
        self.signer = signer
        self.processes = processes
        self._threads = ThreadPoolExecutor(processes or threads, thread_name_prefix="dkim")
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        self._starting = asyncio.Lock()

    @property
    def pids(self) -> list[int]:
        """The signing processes' ids (none before the first signature)."""
        return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(theirs, self.signer), daemon=True, name="dkim-signer")
        process.start()
        theirs.close()
        return _Worker(process, ours)

    async def _worker(self) -> _Worker:
        loop = asyncio.get_running_loop()
        async with self._starting:  # the processes start on first use, off the event loop
            if self._idle is None:
                idle: asyncio.Queue[_Worker] = asyncio.Queue()
                for _ in range(self.processes):
                    worker = await loop.run_in_executor(self._threads, self._spawn)
                    self._workers.append(worker)
                    idle.put_nowait(worker)
                self._idle = idle
        return await self._idle.get()

    async def sign(self, message: bytes, timestamp: int | None = None, *, canonical: bool = False) -> bytes:
        """``message`` with a ``DKIM-Signature`` header in front."""
        return (await self.sign_many([message], timestamp, canonical=canonical))[0]

    async def sign_many(
        self, messages: list[bytes], timestamp: int | None = None, *, canonical: bool = False
    ) -> list[bytes]:
        """Each of ``messages`` signed, in one trip to a worker; ``canonical`` as in ``Signer.sign``."""
        if not canonical:
            messages = [_crlf(m) for m in messages]
        loop = asyncio.get_running_loop()
        if not self.processes:
            headers = await loop.run_in_executor(self._threads, _thread_headers, self.signer, messages, timestamp)
            return [h + m for h, m in zip(headers, messages, strict=True)]
        worker = await self._worker()
        try:
            headers = await loop.run_in_executor(self._threads, worker.call, messages, timestamp)
        except SigningFailed:
            self._workers.remove(worker)
            await loop.run_in_executor(self._threads, worker.stop)
            worker = await loop.run_in_executor(self._threads, self._spawn)
            self._workers.append(worker)
            raise
        finally:
            assert self._idle is not None
            self._idle.put_nowait(worker)
        return [h + m for h, m in zip(headers, messages, strict=True)]

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        self._threads.shutdown(wait=True, cancel_futures=True)


def generate_key(bits: int = 2048) -> bytes:
    """A new RSA private key as PEM ("RSA PRIVATE KEY", which dkimpy and OpenDKIM read too)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def write_key(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only; an existing file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def public_key_b64(key_pem: bytes) -> str:
    key = serialization.load_pem_private_key(key_pem, password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def generate_ed25519_key() -> bytes:
    """A new Ed25519 private key as PEM (PKCS #8)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ed25519_public_b64(key_pem: bytes) -> str:
    """RFC 8463's ``p=``: the base64 of the raw 32-byte public key (not a SubjectPublicKeyInfo)."""
    raw = load_ed25519(key_pem).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def dns_record(selector: str, domain: str, key_pem: bytes) -> str:
    """The TXT record to publish, in zone-file syntax (strings of at most 255 characters); the key
    decides the kind (``k=rsa`` or ``k=ed25519``)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, Ed25519PrivateKey):
        value = f"v=DKIM1; k=ed25519; p={ed25519_public_b64(key_pem)}"
    else:
        value = f"v=DKIM1; k=rsa; p={public_key_b64(key_pem)}"
    return txt_record(f"{selector}._domainkey.{domain}", value)


def txt_record(name: str, value: str) -> str:
    """A TXT record in zone-file syntax, split into strings of at most 250 characters."""
    strings = " ".join(f'"{value[i : i + 250]}"' for i in range(0, len(value), 250))
    return f"{name}. IN TXT ( {strings} )"
