"""``hygie cds-client …`` — the operator registers the EHRs allowed to call the CDS Hooks service.

- ``hygie cds-client add NAME --jwks FILE [--issuer ISS]``: register a client's public keys (a JWK
  Set of EC P-384 / RSA keys, each with a ``kid``); its JWTs must carry ``iss`` = ISS (default:
  NAME). The public contract of docs/cds-hooks.md.
- ``hygie cds-client list``: name, issuer and key ids of each client.
- ``hygie cds-client remove NAME``: its JWTs are refused from then on.
- ``hygie cds-client feedback [--limit N]``: the latest feedback on cards (accepted / overridden,
  with the override reason), one JSON object per line.

Like ``hygie token issue``, these need local access to the database (operators only).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from hygie.api.context import open_storage
from hygie.cds.clients import CdsClientError, add_client, list_clients, remove_client
from hygie.cds.hooks_feedback import latest_feedback
from hygie.settings import Settings
from hygie.storage.database import Session

T = TypeVar("T")
cds_client_cli = typer.Typer(help="CDS Hooks clients (EHRs calling /cds-services).", no_args_is_help=True)


def _run(work: Callable[[Session], T]) -> T:
    db, _ = open_storage(Settings())
    try:
        return db.run_sync(work)
    finally:
        db.close()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@cds_client_cli.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The client's name (an EHR, a hospital…).")],
    jwks: Annotated[Path, typer.Option("--jwks", help="JSON file: the client's PUBLIC JWK Set.")],
    issuer: Annotated[
        str | None, typer.Option("--issuer", help="The 'iss' of its JWTs (default: NAME).")
    ] = None,
) -> None:
    """Register a CDS client: its JWTs (ES384/RS384) are verified with these keys."""
    try:
        keys: Any = orjson.loads(jwks.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        _fail(f"--jwks: {error}")
    now_ms = int(time.time() * 1000)
    try:
        client = _run(lambda s: add_client(s, name, keys, issuer=issuer, now_ms=now_ms))
    except CdsClientError as error:
        _fail(str(error))
    kids = ", ".join(str(k.get("kid")) for k in client.jwks["keys"])
    typer.echo(f"cds client: {client.name}")
    typer.echo(f"issuer (iss): {client.issuer}")
    typer.echo(f"keys (kid): {kids}")


@cds_client_cli.command("list")
def list_command() -> None:
    """List the registered CDS clients (name, issuer, key ids)."""
    for client in _run(list_clients):
        kids = ",".join(str(k.get("kid")) for k in client.jwks["keys"])
        typer.echo(f"{client.name}\t{client.issuer}\t{kids}")


@cds_client_cli.command("remove")
def remove(name: str = typer.Argument(..., help="The client's name.")) -> None:
    """Remove a CDS client: its JWTs are refused from now on."""
    if not _run(lambda s: remove_client(s, name)):
        _fail(f"no CDS client named {name!r}")
    typer.echo(f"removed {name}")


@cds_client_cli.command("feedback")
def feedback(
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="How many, newest first."),
) -> None:
    """Print the latest feedback on cards, one JSON object per line."""
    for entry in _run(lambda s: latest_feedback(s, limit)):
        typer.echo(orjson.dumps(entry).decode())
