"""``hygie user …`` and ``hygie client …`` (docs/cli.md), on both databases.

Each command is run through Typer's runner with ``HYGIE_DATABASE_URL`` pointing at the test's
database; the effect is checked in the database through the accounts and clients modules (the
same code the sign-in pages and the token endpoint use).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pyotp
from joserfc.jwk import ECKey, KeySet
from typer.testing import CliRunner, Result

from hygie.api.context import open_storage
from hygie.auth import accounts
from hygie.auth.oauth.clients import find_client
from hygie.auth.throttle import Throttle
from hygie.cli import cli
from hygie.settings import Settings

PASSWORD = "tranquil meadow orbit 7391"


def run(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    env = {"HYGIE_DATABASE_URL": settings.database_url, "HYGIE_KEYS_DIR": str(settings.keys_dir)}
    return CliRunner().invoke(cli, list(args), input=stdin, env=env)


def in_db(settings: Settings, work: Any) -> Any:
    db, _ = open_storage(settings)
    try:
        return db.run_sync(work)
    finally:
        db.close()


def sign_in(settings: Settings, username: str) -> accounts.LoginResult:
    throttle = Throttle(10, 10, 100)
    return in_db(  # type: ignore[no-any-return]
        settings,
        lambda s: accounts.login(
            s, throttle, username=username, password=PASSWORD, code=None, client="t", now=0
        ),
    )


def test_user_add_list_disable_enable(settings: Settings) -> None:
    added = run(
        settings, "user", "add", "Alice", "--kind", "patient", "--display", "Alice A",
        "--fhir", "Patient/alice", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "created patient alice" in added.output
    assert sign_in(settings, "alice").ok
    listed = run(settings, "user", "list")
    assert listed.exit_code == 0
    assert "alice\tpatient\tPatient/alice\t-\tno-totp\tactive\tAlice A" in listed.output
    assert run(settings, "user", "disable", "alice").exit_code == 0
    assert sign_in(settings, "ALICE").error == "account_disabled"
    assert "\tdisabled\t" in run(settings, "user", "list").output
    assert run(settings, "user", "enable", "alice").exit_code == 0
    assert sign_in(settings, "alice").ok


def test_user_add_prompts_twice_and_refuses_bad_input(settings: Settings) -> None:
    prompted = run(
        settings, "user", "add", "drmartin", "--kind", "professional", "--display", "Dr Martin",
        "--fhir", "Practitioner/gp", "--organization", "org1", stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert prompted.exit_code == 0, prompted.output
    assert "TOTP enrolment" in prompted.output
    # A professional must enrol TOTP before finishing a sign-in.
    assert sign_in(settings, "drmartin").error == "totp_enrollment_required"
    refusals = [
        (["--kind", "doctor", "--display", "X"], PASSWORD, "--kind"),
        (["--kind", "patient", "--display", "X", "--fhir", "Practitioner/1"], PASSWORD, "error"),
        (["--kind", "patient", "--display", "X"], "short", "error"),
    ]
    for options, password, message in refusals:
        result = run(settings, "user", "add", "someone", *options, "--password-stdin", stdin=password + "\n")
        assert result.exit_code == 2, result.output
        assert message in result.output
    taken = run(
        settings, "user", "add", "DrMartin", "--kind", "admin", "--display", "Y", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert taken.exit_code == 2
    assert run(settings, "user", "disable", "nobody").exit_code == 2


def test_user_reset_totp_and_proxy_add(settings: Settings) -> None:
    def enrol(session: Any) -> None:
        account = accounts.create_account(
            session, username="admin1", kind="admin", display="Admin", password=PASSWORD, now=0
        )
        secret = accounts.start_totp()
        now = time.time()
        accounts.confirm_totp(session, account, secret, pyotp.TOTP(secret).at(now), int(now * 1000))
        accounts.create_account(
            session,
            username="mum",
            kind="patient",
            display="Mum",
            password=PASSWORD,
            now=0,
            fhir="Patient/mum",
        )

    in_db(settings, enrol)
    assert sign_in(settings, "admin1").error == "second_factor_required"
    reset = run(settings, "user", "reset-totp", "admin1")
    assert reset.exit_code == 0, reset.output
    assert sign_in(settings, "admin1").error == "totp_enrollment_required"
    proxy = run(settings, "user", "proxy-add", "mum", "kid", "--relationship", "mother")
    assert proxy.exit_code == 0, proxy.output

    def patients(session: Any) -> tuple[str, ...]:
        account = accounts.find_account(session, "mum")
        assert account is not None
        return accounts.patients_of(session, account)

    assert in_db(settings, patients) == ("mum", "kid")
    refused = run(settings, "user", "proxy-add", "admin1", "kid", "--relationship", "mother")
    assert refused.exit_code == 2  # only patient accounts act for patients


def _client(settings: Settings, output: str) -> Any:
    client_id = output.split("client_id: ", 1)[1].split(maxsplit=1)[0]
    return in_db(settings, lambda s: find_client(s, client_id))


def test_client_add_kinds(settings: Settings, tmp_path: Path) -> None:
    public = run(
        settings, "client", "add", "Carnet", "--public", "--redirect-uri", "https://app.example/cb",
        "--redirect-uri", "http://127.0.0.1:8080/cb", "--scope", "launch/patient openid patient/*.rs",
    )  # fmt: skip
    assert public.exit_code == 0, public.output
    assert "client_secret" not in public.output
    client = _client(settings, public.output)
    assert client.kind == "public" and client.auth_method == "none"
    assert client.redirect_uris == ("https://app.example/cb", "http://127.0.0.1:8080/cb")

    confidential = run(
        settings, "client", "add", "Portail", "--confidential", "--redirect-uri", "https://p.example/cb",
        "--scope", "user/*.rs",
    )  # fmt: skip
    assert confidential.exit_code == 0, confidential.output
    secret = confidential.output.split("client_secret: ", 1)[1].split()[0]
    client = _client(settings, confidential.output)
    assert client.check_secret(secret) and not client.check_secret(secret + "x")
    assert secret not in str(client.secret_digest)

    jwks = tmp_path / "jwks.json"
    key = ECKey.generate_key("P-384", private=True)
    jwks.write_bytes(orjson.dumps(KeySet([key]).as_dict(private=False)))
    backend = run(
        settings, "client", "add", "Entrepôt", "--backend", "--jwks", str(jwks), "--scope", "system/*.rs"
    )
    assert backend.exit_code == 0, backend.output
    client = _client(settings, backend.output)
    assert client.kind == "backend" and client.auth_method == "private_key_jwt"
    listed = run(settings, "client", "list")
    assert "Carnet" in listed.output and "Portail" in listed.output and "private_key_jwt" in listed.output

    private = tmp_path / "private.json"
    private.write_bytes(orjson.dumps(KeySet([key]).as_dict(private=True)))
    refusals = [
        ["Twice", "--public", "--backend", "--scope", "system/*.rs"],
        ["None", "--scope", "user/*.rs", "--redirect-uri", "https://a.example/cb"],
        ["NoUri", "--public", "--scope", "user/*.rs"],
        ["Http", "--public", "--scope", "user/*.rs", "--redirect-uri", "http://a.example/cb"],
        ["Fragment", "--public", "--scope", "user/*.rs", "--redirect-uri", "https://a.example/cb#x"],
        ["SysApp", "--public", "--scope", "system/*.rs", "--redirect-uri", "https://a.example/cb"],
        ["UserBackend", "--backend", "--jwks", str(jwks), "--scope", "user/*.rs"],
        ["NoKeys", "--backend", "--scope", "system/*.rs"],
        ["Private", "--backend", "--jwks", str(private), "--scope", "system/*.rs"],
        ["BadScope", "--public", "--scope", "patient/Nope.rs", "--redirect-uri", "https://a.example/cb"],
        ["Missing", "--backend", "--jwks", str(tmp_path / "missing.json"), "--scope", "system/*.rs"],
    ]
    for args in refusals:
        result = run(settings, "client", "add", *args)
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output


def test_user_link_external(settings: Settings) -> None:
    for username, kind, fhir in (("drb", "professional", "Practitioner/b"), ("pat", "patient", "Patient/p")):
        created = run(
            settings, "user", "add", username, "--kind", kind, "--display", username, "--fhir", fhir,
            "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert created.exit_code == 0, created.output
    linked = run(settings, "user", "link-external", "drb", "psc-42")
    assert linked.exit_code == 0, linked.output
    row = in_db(settings, lambda s: s.one("SELECT username FROM account WHERE external_subject = 'psc-42'"))
    assert row == ("drb",)
    assert run(settings, "user", "link-external", "pat", "psc-43").exit_code == 2  # professionals only
    create = run(
        settings, "user", "add", "drc", "--kind", "professional", "--display", "C",
        "--fhir", "Practitioner/c", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert create.exit_code == 0
    taken = run(settings, "user", "link-external", "drc", "psc-42")
    assert taken.exit_code == 2 and "already linked" in taken.output


def test_account_changes_are_audited(settings: Settings) -> None:
    run(
        settings, "user", "add", "dr.house", "--kind", "professional", "--display", "Dr House",
        "--fhir", "Practitioner/h", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert run(settings, "user", "disable", "dr.house").exit_code == 0
    assert run(settings, "user", "reset-totp", "dr.house").exit_code == 0
    rows = in_db(settings, lambda s: s.all("SELECT body FROM audit_log ORDER BY seq"))
    events = [orjson.loads(bytes(body)) for (body,) in rows]
    changes = [e for e in events if any(s.get("code") == "110137" for s in e.get("subtype", []))]
    assert len(changes) == 3
    text = orjson.dumps(changes).decode()
    assert "disabled" in text and "TOTP reset" in text and "dr.house" in text
    verified = run(settings, "audit", "verify")
    assert verified.exit_code == 0, verified.output
