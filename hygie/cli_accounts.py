"""``hygie user …`` and ``hygie client …``: accounts of people who sign in, OAuth clients.

Operator commands (local access to the database and the keys, like ``hygie token issue``); every
change to an account is recorded in the audit trail in the same transaction. Loaded by the
``hygie`` command line when one of them runs (hygie/cli_lazy.py); documented in docs/cli.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from hygie.settings import Settings

user_cli = typer.Typer(
    help="Accounts of people who sign in (professionals, patients, admins).", no_args_is_help=True
)
client_cli = typer.Typer(help="OAuth clients: SMART apps and backend services.", no_args_is_help=True)


def _run_db(work: Any) -> Any:
    """Run ``work(session)`` in one transaction on the configured database."""
    from hygie.api.context import open_storage

    db, _ = open_storage(Settings())
    try:
        return db.run_sync(work)
    finally:
        db.close()


def _account_change(session: Any, account: Any, change: str) -> None:
    """Record an operator's change to an account in the audit trail (BALP "User Security
    Attributes Changed"), in the same transaction as the change."""
    from hygie.auth import audit, balp
    from hygie.auth.keys import load_audit_key

    now = _now_ms()
    patients = (account.fhir_id,) if account.kind == "patient" and account.fhir_id else ()
    record = balp.AccessRecord(
        action="account-change",
        time_ms=now,
        agent_login="operator",
        client_id="hygie-cli",
        patients=patients,
        resources=(account.fhir_user,) if account.fhir_user and not patients else (),
        reason=f"{change} {account.username}",
    )
    audit.append_access(session, record, now=now, key=load_audit_key(Settings().keys_dir))


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _account_error(error: Exception) -> str:
    from hygie.fhir.messages import render

    key = getattr(error, "key", "")
    detail = getattr(error, "detail", "")
    text = render(key, "en", {}) if key else str(error)
    return f"{text} ({detail})" if detail and detail != key else text


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def _read_password(from_stdin: bool) -> str:
    import sys

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_cli.command("add")
def user_add(
    username: str = typer.Argument(..., help="Sign-in name (case-insensitive)."),
    kind: str = typer.Option(..., "--kind", help="professional, patient or admin."),
    display: str = typer.Option(..., "--display", help="Name shown to the user and in audit records."),
    fhir: str | None = typer.Option(
        None, "--fhir", help="Practitioner/ID (professional) or Patient/ID (patient)."
    ),
    organization: str | None = typer.Option(
        None, "--organization", help="Organization id of a professional."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create an account (asks for the password twice unless --password-stdin)."""
    from hygie.auth import accounts

    if kind not in accounts.KINDS:
        _fail(f"--kind must be one of {', '.join(accounts.KINDS)}")
    password = _read_password(password_stdin)

    def work(session: Any) -> Any:
        account = accounts.create_account(
            session,
            username=username,
            kind=kind,
            display=display,
            password=password,
            now=_now_ms(),
            fhir=fhir,
            organization=organization,
        )
        _account_change(session, account, "account created:")
        return account

    try:
        account = _run_db(work)
    except accounts.AccountError as error:
        _fail(_account_error(error))
    second = " (TOTP enrolment at first sign-in)" if account.needs_second_factor else ""
    typer.echo(f"created {account.kind} {account.username} (id {account.id}){second}")


@user_cli.command("list")
def user_list() -> None:
    """List the accounts (username, kind, FHIR link, organisation, TOTP, state)."""
    from hygie.auth import accounts

    for a in _run_db(accounts.list_accounts):
        state = "disabled" if a.disabled else "active"
        totp = "totp" if a.totp_enabled else "no-totp"
        fields = [a.username, a.kind, a.fhir_user or "-", a.organization or "-", totp, state, a.display]
        typer.echo("\t".join(fields))


def _with_account(username: str, action: Any, change: str) -> Any:
    from hygie.auth import accounts

    def work(session: Any) -> Any:
        account = accounts.find_account(session, username)
        if account is None:
            return None
        done = action(session, account) or True
        _account_change(session, account, change)
        return done

    try:
        done = _run_db(work)
    except accounts.AccountError as error:
        _fail(_account_error(error))
    if done is None:
        _fail(f"no account {username!r}")
    return done


@user_cli.command("disable")
def user_disable(username: str = typer.Argument(..., help="The account.")) -> None:
    """Disable an account: no sign-in, no token refresh; its web sessions end."""
    from hygie.auth import accounts
    from hygie.auth.sessions import close_sessions_of

    def action(session: Any, account: Any) -> None:
        accounts.set_disabled(session, account, True, _now_ms())
        close_sessions_of(session, account.id)

    _with_account(username, action, "disabled:")
    typer.echo(f"disabled {username}")


@user_cli.command("enable")
def user_enable(username: str = typer.Argument(..., help="The account.")) -> None:
    """Enable a disabled account again."""
    from hygie.auth import accounts

    _with_account(username, lambda s, a: accounts.set_disabled(s, a, False, _now_ms()), "enabled:")
    typer.echo(f"enabled {username}")


@user_cli.command("reset-totp")
def user_reset_totp(username: str = typer.Argument(..., help="The account.")) -> None:
    """Forget the account's TOTP secret and recovery codes (lost phone): it enrols again at its
    next sign-in; its web sessions end."""
    from hygie.auth import accounts
    from hygie.auth.sessions import close_sessions_of

    def action(session: Any, account: Any) -> None:
        accounts.reset_totp(session, account, _now_ms())
        close_sessions_of(session, account.id)

    _with_account(username, action, "TOTP reset:")
    typer.echo(f"TOTP reset for {username}: enrolment at next sign-in")


@user_cli.command("proxy-add")
def user_proxy_add(
    username: str = typer.Argument(..., help="A patient account."),
    patient_id: str = typer.Argument(..., help="Id of the Patient it may act for (a child, a dependent)."),
    relationship: str = typer.Option(..., "--relationship", help="e.g. mother, father, guardian."),
) -> None:
    """Let a patient account act for another patient (proxy)."""
    from hygie.auth import accounts

    _with_account(
        username,
        lambda s, a: accounts.add_proxy(s, a, patient_id, relationship),
        f"may act for Patient/{patient_id} ({relationship[:40]}):",
    )
    typer.echo(f"{username} may act for Patient/{patient_id} ({relationship})")


@user_cli.command("link-external")
def user_link_external(
    username: str = typer.Argument(..., help="A professional account."),
    subject: str = typer.Argument(
        ..., help="Its 'sub' at the external OpenID Connect provider (HYGIE_OIDC_ISSUER)."
    ),
) -> None:
    """Let a professional sign in through the external identity provider (Pro Santé Connect…)."""
    from hygie.auth.external_idp import link_subject

    def action(session: Any, account: Any) -> None:
        if account.kind != "professional":
            raise _NotProfessionalError
        link_subject(session, account, subject)

    from hygie.fhir.outcome import FhirError

    try:
        _with_account(username, action, "linked to the external identity provider:")
    except _NotProfessionalError:
        _fail("only professional accounts sign in through the external provider")
    except FhirError:  # external_subject is unique
        _fail(f"{subject!r} is already linked to another account")
    typer.echo(f"{username} signs in as {subject!r} at the external provider")


class _NotProfessionalError(Exception):
    pass


@client_cli.command("add")
def client_add(
    name: str = typer.Argument(..., help="Name shown on the consent page."),
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Registered redirect URI (repeatable).")
    ] = None,
    scope: str = typer.Option(
        ...,
        "--scope",
        help="Largest scope the client may get, e.g. 'launch/patient openid fhirUser patient/*.rs'.",
    ),
    public: bool = typer.Option(False, "--public", help="Public app (no secret; PKCE only)."),
    confidential: bool = typer.Option(
        False, "--confidential", help="Confidential app (prints its secret once, or uses --jwks)."
    ),
    backend: bool = typer.Option(
        False, "--backend", help="Backend service (client_credentials, private_key_jwt)."
    ),
    jwks: Annotated[
        Path | None, typer.Option("--jwks", help="JSON file: the client's public JWK Set (RS384/ES384 keys).")
    ] = None,
) -> None:
    """Register an OAuth client and print its client_id (and secret, once)."""
    import orjson

    from hygie.auth.oauth.clients import ClientError, ClientKind, register_client

    choices: list[tuple[ClientKind, bool]] = [
        ("public", public),
        ("confidential", confidential),
        ("backend", backend),
    ]
    kinds = [k for k, on in choices if on]
    if len(kinds) != 1:
        _fail("choose exactly one of --public, --confidential, --backend")
    keys = None
    if jwks is not None:
        try:
            keys = orjson.loads(jwks.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            _fail(f"--jwks: {error}")

    def work(session: Any) -> Any:
        return register_client(
            session,
            name=name,
            kind=kinds[0],
            redirect_uris=redirect_uri or [],
            scope=scope,
            now_ms=_now_ms(),
            jwks=keys,
        )

    try:
        client, secret = _run_db(work)
    except ClientError as error:
        _fail(str(error))
    typer.echo(f"client_id: {client.client_id}")
    typer.echo(f"token_endpoint_auth_method: {client.auth_method}")
    if secret:
        typer.echo(f"client_secret: {secret}")
        typer.echo("(the secret is shown once; only its digest is stored)")


@client_cli.command("list")
def client_list() -> None:
    """List the registered clients (id, kind, authentication, name, scope)."""
    from hygie.auth.oauth.clients import list_clients

    for c in _run_db(list_clients):
        state = " (disabled)" if c.disabled else ""
        typer.echo(f"{c.client_id}\t{c.kind}\t{c.auth_method}\t{c.name}{state}\t{c.scope}")
