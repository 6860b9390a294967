"""The ``hygie`` command line (Typer). Every command is documented in docs/cli.md."""

from __future__ import annotations

import typer

from hygie import __version__
from hygie.cli_lazy import LazyGroup
from hygie.settings import Settings

# import, export, ingest, cds, cds-client, user and client are loaded when they run (hygie/cli_lazy.py)
cli = typer.Typer(
    cls=LazyGroup, help="Hygie: open-source, sovereign e-health platform on FHIR R4.", no_args_is_help=True
)
db_cli = typer.Typer(help="Database administration.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
token_cli = typer.Typer(help="Access tokens for operators and scripts.", no_args_is_help=True)
cli.add_typer(token_cli, name="token")
audit_cli = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
cli.add_typer(audit_cli, name="audit")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hygie {__version__}")
        raise typer.Exit()


@cli.callback()
def main_callback(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Hygie command line."""
    _configure_logging()


def _configure_logging() -> None:
    """Log as the server does (level, JSON, redaction of personal data) whatever the command;
    with settings that do not validate, the defaults (the command itself reports the error)."""
    from pydantic import ValidationError

    from hygie.logging import configure

    try:
        settings = Settings()
    except ValidationError:
        configure()
    else:
        configure(settings.log_level, settings.log_json)


@cli.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Serve the FHIR API and the web UI."""
    import uvicorn

    from hygie.app import create_app

    settings = Settings()
    typer.echo(f"Hygie {__version__} on http://{host}:{port}/fhir ({settings.database_url.split(':', 1)[0]})")
    uvicorn.run(
        create_app(settings, freeze_gc=True),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
    )


@cli.command()
def demo(
    patients: int = typer.Option(300, min=1, max=100_000, help="Number of demo patients."),
    seed: int = typer.Option(1, help="Random seed (same seed, same population)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
) -> None:
    """Build the demo population into the configured database (once), then serve it."""
    import time

    from hygie.auth.keys import load_keys
    from hygie.auth.operator import operator_token
    from hygie.demo.accounts import describe
    from hygie.demo.load import load_demo

    settings = Settings()
    try:  # before the load: its accounts are saved with the keys at the end
        load_keys(settings.keys_dir)
    except (OSError, ValueError) as error:
        typer.echo(
            f"error: the key folder {settings.keys_dir} is not usable (HYGIE_KEYS_DIR): {error}", err=True
        )
        raise typer.Exit(2) from None
    started = time.monotonic()
    typer.echo(f"demo: building {patients} patients (seed {seed}) unless the database already has them…")
    written = load_demo(settings, patients, seed)
    if written:
        typer.echo(f"demo: {written} resources loaded in {time.monotonic() - started:.1f} s")
    else:
        typer.echo("demo: reusing the demo data already in the database")
    token = operator_token(
        load_keys(settings.keys_dir), "system/*.cruds", patient=None, ttl=8 * 3600, now=int(time.time())
    )
    typer.echo(f"FHIR API: http://{host}:{port}/fhir  (every call needs a bearer token)")
    for line in describe(settings.keys_dir, f"http://{host}:{port}"):
        typer.echo(line)
    typer.echo("operator token (system/*.cruds, valid 8 h; `hygie token issue` prints others):")
    typer.echo(f"  export TOKEN={token}")
    typer.echo(f"  curl -H \"Authorization: Bearer $TOKEN\" 'http://{host}:{port}/fhir/Patient?name=camille'")
    serve(host=host, port=port)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema (HYGIE_DATABASE_URL)."""
    from hygie.api.context import open_storage

    db, _ = open_storage(Settings())
    try:
        typer.echo(f"schema version {db.schema_version()} ({db.dialect})")
    finally:
        db.close()


@db_cli.command("reindex")
def db_reindex(
    resource_type: str | None = typer.Option(None, "--type", help="Only this resource type."),
    batch: int = typer.Option(500, min=1, max=10_000, help="Resources per transaction."),
) -> None:
    """Rebuild the search indexes (and full text) of every current resource."""
    from zoneinfo import ZoneInfo

    from hygie.api.context import open_storage
    from hygie.storage.database import Session
    from hygie.storage.store import Store

    settings = Settings()
    db, params = open_storage(settings)
    tz = ZoneInfo(settings.timezone)
    done, after = 0, 0

    def step(session: Session) -> tuple[int, int]:
        return Store(session, params, tz).reindex(after, batch, resource_type)

    try:
        while True:
            count, last = db.run_sync(step)  # one transaction per batch
            done += count
            if count < batch:
                break
            after = last
        typer.echo(f"reindexed {done} resources")
    finally:
        db.close()


@token_cli.command("issue")
def token_issue(
    scope: str = typer.Option(..., "--scope", help="SMART scopes, e.g. 'system/*.cruds' or 'patient/*.rs'."),
    patient: str | None = typer.Option(None, "--patient", help="Launch context: this Patient id."),
    ttl: int = typer.Option(3600, "--ttl", help="Lifetime in seconds (at most 30 days)."),
) -> None:
    """Print a bearer access token signed with this installation's key (needs the key directory
    and the database: only operators can run it)."""
    import time

    from hygie.api.context import open_storage
    from hygie.auth.keys import load_keys
    from hygie.auth.operator import OperatorError, operator_token

    settings = Settings()
    if patient is not None:
        db, _ = open_storage(settings)
        try:
            found = db.run_sync(
                lambda s: s.one("SELECT 1 FROM resource WHERE type = 'Patient' AND id = ?", (patient,))
            )
        finally:
            db.close()
        if found is None:
            typer.echo(f"error: no Patient/{patient} in the database", err=True)
            raise typer.Exit(2)
    try:
        token = operator_token(
            load_keys(settings.keys_dir), scope, patient=patient, ttl=ttl, now=int(time.time())
        )
    except OperatorError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the whole audit chain (hashes, order, signed checkpoints); exit 1 naming the first
    bad entry."""
    from hygie.api.context import open_storage
    from hygie.auth.audit import verify
    from hygie.auth.keys import load_keys

    settings = Settings()
    keys = load_keys(settings.keys_dir)
    db, _ = open_storage(settings)
    try:
        result = db.run_sync(lambda s: verify(s, keys.audit), write=False)
    finally:
        db.close()
    typer.echo(str(result))
    if not result.ok:
        raise typer.Exit(1)


@audit_cli.command("purge")
def audit_purge() -> None:
    """Delete entries older than HYGIE_AUDIT_RETENTION_DAYS (after verifying them; a signed anchor
    keeps the rest of the chain verifiable)."""
    import time

    from hygie.api.context import open_storage
    from hygie.auth.audit import AuditTampered, purge
    from hygie.auth.keys import load_keys

    settings = Settings()
    keys = load_keys(settings.keys_dir)
    now = int(time.time() * 1000)
    before = now - settings.audit_retention_days * 86_400_000
    db, _ = open_storage(settings)
    try:
        result = db.run_sync(lambda s: purge(s, before, keys.audit, now), write=True)
    except AuditTampered as error:
        typer.echo(f"refused: the entries to purge do not verify: {error}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.close()
    typer.echo(f"purged {result.deleted} audit entries older than {settings.audit_retention_days} days")


def main() -> None:
    from pydantic import ValidationError

    try:
        cli()
    except ValidationError as error:
        if error.title != Settings.__name__:  # not a HYGIE_* variable: a bug, with its traceback
            raise
        for problem in error.errors():
            name = "HYGIE_" + "_".join(str(part) for part in problem["loc"]).upper()
            typer.echo(f"error: {name}: {problem['msg']}", err=True)
        raise SystemExit(2) from None
