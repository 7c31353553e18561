"""``mailer dkim keygen``: a signing key and the DNS record to publish."""

from __future__ import annotations

from pathlib import Path

import typer

from mailer.cli.common import console, err, settings_of

app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dkim")


@app.command("keygen")
def dkim_keygen(
    ctx: typer.Context,
    selector: str = typer.Option(..., "--selector", help="The DKIM selector, e.g. mail2026 (MAILER_DKIM_SELECTOR)."),
    domain: str | None = typer.Option(None, "--domain", help="Signing domain (default: the sender address's)."),
    out: Path = typer.Option(Path("dkim.key"), "--out", help="Where to write the private key (never overwritten)."),
    bits: int = typer.Option(2048, "--bits", min=2048, max=4096, help="RSA key size."),
    algorithm: str = typer.Option(
        "rsa", "--algorithm", help="rsa, or ed25519 for a second signature beside the RSA one (RFC 8463)."
    ),
) -> None:
    """Write a new private key (RSA, or Ed25519) and print the DNS TXT record to publish for it."""
    from mailer.delivery import dkim

    if algorithm not in ("rsa", "ed25519"):
        err.print(f"[red]error:[/red] --algorithm: {algorithm!r} is not rsa or ed25519")
        raise typer.Exit(2)
    settings = settings_of(ctx)
    domain = domain or settings.mail_domain
    pem = dkim.generate_key(bits) if algorithm == "rsa" else dkim.generate_ed25519_key()
    try:
        dkim.write_key(out, pem)
    except FileExistsError:
        err.print(f"[red]error:[/red] --out: {out} exists; pick another file (a key is never overwritten)")
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"[red]error:[/red] --out: cannot write {out}: {exc.strerror}")
        raise typer.Exit(2) from None
    kind = f"a {bits}-bit RSA" if algorithm == "rsa" else "an Ed25519"
    console.print(f"wrote {kind} key to {out} (readable by its owner only)")
    console.print("publish this DNS record:")
    console.print(dkim.dns_record(selector, domain, pem), highlight=False, soft_wrap=True)
    console.print("then set:")
    prefix = "MAILER_DKIM" if algorithm == "rsa" else "MAILER_DKIM_ED25519"
    console.print(f"{prefix}_SELECTOR={selector}\n{prefix}_KEY_FILE={out.resolve()}", highlight=False)
    if algorithm == "ed25519":
        console.print("(beside the RSA key's MAILER_DKIM_SELECTOR and MAILER_DKIM_KEY_FILE: many receivers "
                      "verify only RSA)", highlight=False)
    if domain != settings.mail_domain:
        console.print(f"MAILER_DKIM_DOMAIN={domain}", highlight=False)
