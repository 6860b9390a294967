"""CDS clients and their JWTs (hygie/cds/clients.py, hygie cds-client), on both databases.

CDS Hooks 2.0 "Trusting CDS Clients": https://cds-hooks.hl7.org/2.0/#trusting-cds-clients
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hygie.api.context import open_storage
from hygie.cds import clients
from hygie.cli import cli
from hygie.fhir.outcome import FhirError
from hygie.settings import Settings
from hygie.storage.database import Database
from tests.cds.hooks.support import ISSUER, claims, ec_key, jwks, rsa_key, sign

AUD = "https://hygie.example.org/cds-services/medication-safety-order-sign"
EC, RSA, STRANGER = ec_key(), rsa_key(), ec_key()


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[Database]:
    database, _ = open_storage(Settings(database_url=database_url, keys_dir=tmp_path / "keys"))
    now = int(time.time() * 1000)
    database.run_sync(lambda s: clients.add_client(s, "ehr", jwks(EC, RSA), issuer=ISSUER, now_ms=now))
    yield database
    database.close()


def _verify(
    db: Database, token: str | None, now: int | None = None, audiences: tuple[str, ...] = (AUD,)
) -> Any:
    header = None if token is None else f"Bearer {token}"
    when = int(time.time()) if now is None else now
    return db.run_sync(lambda s: clients.verify_jwt(s, header, audiences=audiences, now_s=when))


def _refused(db: Database, token: str | None, reason: str, **kw: Any) -> None:
    with pytest.raises(FhirError) as caught:
        _verify(db, token, **kw)
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith('Bearer realm="hygie-cds"')
    assert reason in caught.value.outcome("en")["issue"][0]["diagnostics"]


def test_es384_and_rs384_jwts_are_accepted(db: Database) -> None:
    assert _verify(db, sign(EC, claims(AUD))).name == "ehr"
    assert _verify(db, sign(RSA, claims([AUD, "https://other"]))).issuer == ISSUER  # aud as an array


def test_missing_or_malformed_authorization(db: Database) -> None:
    _refused(db, None, "Authentication required")
    _refused(db, "not-a-jwt", "malformed JWT")
    _refused(db, "a.b.c", "malformed JWT")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: sign(RSA, claims(AUD), alg="RS256"), "alg must be ES384 or RS384"),
        (lambda: sign(EC, claims(AUD), kid=""), "kid missing"),
        (lambda: sign(EC, claims(AUD, iss="https://unknown.example.org")), "unknown issuer"),
        (lambda: sign(STRANGER, claims(AUD), kid="ec-1"), "signature does not verify"),
        (lambda: sign(EC, claims("https://hygie.example.org/cds-services/other")), "aud must be the URL"),
        (lambda: sign(EC, claims(AUD, exp=int(time.time()) - 120)), "expired"),
        (lambda: sign(EC, claims(AUD, exp=int(time.time()) + 3600)), "more than 5 minutes ahead"),
        (lambda: sign(EC, claims(AUD, iat=int(time.time()) + 600)), "iat is in the future"),
        (lambda: sign(EC, claims(AUD, jti="")), "jti missing"),
        (lambda: sign(EC, {k: v for k, v in claims(AUD).items() if k != "exp"}), "exp missing"),
    ],
)
def test_bad_jwts_are_refused(db: Database, token: Any, reason: str) -> None:
    _refused(db, token(), reason)


def test_clock_skew_is_tolerated(db: Database) -> None:
    now = int(time.time())
    assert _verify(db, sign(EC, claims(AUD, now=now, exp=now - 30)), now=now).name == "ehr"
    assert _verify(db, sign(EC, claims(AUD, now=now, iat=now + 30)), now=now).name == "ehr"


def test_a_replayed_jti_is_refused_until_it_expires(db: Database) -> None:
    token = sign(EC, claims(AUD))
    assert _verify(db, token).name == "ehr"
    _refused(db, token, "jti already used (replay)")
    rows = db.run_sync(lambda s: s.all("SELECT issuer, jti FROM cds_jti"))
    assert len(rows) == 1 and rows[0][0] == ISSUER
    later = int(time.time()) + 3600  # the JWT has expired: its jti is purged by the next check
    _verify(db, sign(EC, claims(AUD, now=later)), now=later)
    assert db.run_sync(lambda s: s.all("SELECT count(*) FROM cds_jti"))[0][0] == 1


def test_removed_client_is_refused(db: Database) -> None:
    assert db.run_sync(lambda s: clients.remove_client(s, "ehr")) is True
    _refused(db, sign(EC, claims(AUD)), "unknown issuer")
    assert db.run_sync(lambda s: clients.remove_client(s, "ehr")) is False


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"keys": []}, "non-empty 'keys'"),
        ({"keys": [EC.as_dict(private=True)]}, "private key material"),
        ({"keys": [{k: v for k, v in EC.as_dict(private=False).items() if k != "kid"}]}, "needs a 'kid'"),
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "x"}]}, "only RSA and EC"),
    ],
)
def test_bad_key_sets_are_refused(db: Database, keys: Any, message: str) -> None:
    with pytest.raises(clients.CdsClientError, match=message):
        db.run_sync(lambda s: clients.add_client(s, "other", keys, now_ms=0))


def test_names_and_issuers_are_unique(db: Database) -> None:
    with pytest.raises(clients.CdsClientError, match="exists already"):
        db.run_sync(lambda s: clients.add_client(s, "ehr", jwks(EC), issuer="x", now_ms=0))
    with pytest.raises(clients.CdsClientError, match="another CDS client has the issuer"):
        db.run_sync(lambda s: clients.add_client(s, "other", jwks(EC), issuer=ISSUER, now_ms=0))
    added = db.run_sync(lambda s: clients.add_client(s, "plain", jwks(EC), now_ms=0))
    assert added.issuer == "plain"  # the issuer defaults to the name
    assert [c.name for c in db.run_sync(clients.list_clients)] == ["ehr", "plain"]


def test_the_cli_registers_lists_and_removes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The public contract: ``hygie cds-client add NAME --jwks FILE``."""
    monkeypatch.setenv("HYGIE_DATABASE_URL", database_url)
    monkeypatch.setenv("HYGIE_KEYS_DIR", str(tmp_path / "keys"))
    key_file = tmp_path / "ehr.jwks.json"
    key_file.write_text(json.dumps(jwks(EC)))
    runner = CliRunner()
    added = runner.invoke(
        cli, ["cds-client", "add", "Hôpital Nord", "--jwks", str(key_file), "--issuer", ISSUER]
    )
    assert added.exit_code == 0, added.output
    assert f"issuer (iss): {ISSUER}" in added.output and "ec-1" in added.output
    again = runner.invoke(cli, ["cds-client", "add", "Hôpital Nord", "--jwks", str(key_file)])
    assert again.exit_code == 2 and "exists already" in again.output
    listed = runner.invoke(cli, ["cds-client", "list"])
    assert listed.output.splitlines() == [f"Hôpital Nord\t{ISSUER}\tec-1"]
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert runner.invoke(cli, ["cds-client", "add", "x", "--jwks", str(bad)]).exit_code == 2
    assert runner.invoke(cli, ["cds-client", "add", "x"]).exit_code != 0  # --jwks is required
    assert runner.invoke(cli, ["cds-client", "feedback"]).output == ""
    assert runner.invoke(cli, ["cds-client", "remove", "Hôpital Nord"]).exit_code == 0
    assert runner.invoke(cli, ["cds-client", "remove", "Hôpital Nord"]).exit_code == 2
    assert runner.invoke(cli, ["cds-client", "list"]).output == ""
