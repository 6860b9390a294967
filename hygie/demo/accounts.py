"""Demo accounts: a GP, a hospital nurse, a patient and an administrator.

They are ordinary accounts (:mod:`hygie.auth.accounts`): Argon2 password hashes, TOTP enrolled
for the professional and the administrator (mandatory for them) with a generated secret. Only
hashes are stored, so the clear credentials are kept in ``<keys_dir>/demo-accounts.json`` (mode
0600, beside the signing keys, same protection) for ``hygie demo`` to print them at every start.
Passwords and TOTP secrets are random at each fresh database: nothing guessable ships with Hygie.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pyotp

from hygie.auth import accounts
from hygie.auth.totp import provisioning_uri
from hygie.demo.people import patient_id
from hygie.demo.territory import PRACTICES, Territory
from hygie.storage.database import Session

CREDENTIALS_FILE = "demo-accounts.json"
WORDS = (
    "ardoise",
    "bruyère",
    "cormoran",
    "dolmen",
    "embrun",
    "falaise",
    "goémon",
    "hermine",
    "iroise",
    "lande",
    "menhir",
    "marée",
    "phare",
    "rocher",
    "sillon",
    "vanneau",
    "varech",
    "ajonc",
    "korrigan",
    "galette",
    "chapelle",
    "estran",
    "goéland",
    "bocage",
)


def credentials_path(keys_dir: Path) -> Path:
    return keys_dir / CREDENTIALS_FILE


def _password() -> str:
    return "-".join(secrets.choice(WORDS) for _ in range(4)) + f"-{secrets.randbelow(90) + 10}"


def planned(t: Territory) -> list[dict[str, Any]]:
    """The four demo accounts and what they link to."""
    _key, name, *_ = PRACTICES[0]
    gp = t.practices[0].gps[0]
    return [
        {
            "username": "demo.medecin",
            "kind": "professional",
            "display": "Dr Claire Rousseau (médecin généraliste)",
            "fhir": f"Practitioner/{gp}",
            "organization": t.practices[0].org,
            "role": f"GP, {name}",
        },
        {
            "username": "demo.infirmier",
            "kind": "professional",
            "display": "Camille Hamon (infirmier, médecine interne)",
            "fhir": f"Practitioner/{t.nurse}",
            "organization": t.services["medecine-interne"],
            "role": "hospital nurse, CHU — Médecine interne",
        },
        {
            "username": "demo.patient",
            "kind": "patient",
            "display": "Patiente de démonstration",
            "fhir": f"Patient/{patient_id(0)}",
            "organization": None,
            "role": "patient (own record)",
        },
        {
            "username": "demo.admin",
            "kind": "admin",
            "display": "Administrateur de démonstration",
            "fhir": None,
            "organization": None,
            "role": "administrator (accounts, no clinical data)",
        },
    ]


def create(session: Session, t: Territory, now_ms: int | None = None) -> list[dict[str, Any]]:
    """Create the accounts that do not exist yet; returns the clear credentials of those made."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    made = []
    for item in planned(t):
        if accounts.find_account(session, item["username"]) is not None:
            continue
        password = _password()
        account = accounts.create_account(
            session,
            username=item["username"],
            kind=item["kind"],
            display=item["display"],
            password=password,
            now=now,
            fhir=item["fhir"],
            organization=item["organization"],
        )
        secret = None
        if item["kind"] in accounts.SECOND_FACTOR_REQUIRED:
            secret = accounts.start_totp()
            code = pyotp.TOTP(secret).at(now // 1000)
            accounts.confirm_totp(session, account, secret, code, now)
        made.append({**item, "password": password, "totp_secret": secret})
    return made


def save(keys_dir: Path, made: list[dict[str, Any]]) -> None:
    """Merge ``made`` into the credentials file (mode 0600)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    path = credentials_path(keys_dir)
    known = {a["username"]: a for a in load(keys_dir)}
    known.update({a["username"]: a for a in made})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(sorted(known.values(), key=lambda a: a["username"]), out, ensure_ascii=False, indent=1)
    path.chmod(0o600)


def load(keys_dir: Path) -> list[dict[str, Any]]:
    path = credentials_path(keys_dir)
    if not path.exists():
        return []
    found = json.loads(path.read_text(encoding="utf-8"))
    return found if isinstance(found, list) else []


def describe(keys_dir: Path, base_url: str) -> list[str]:
    """Lines telling how to sign in with each demo account."""
    found = load(keys_dir)
    if not found:
        return ["demo accounts: no credentials file (create accounts with `hygie user add`)"]
    lines = [
        f"demo accounts (sign in at {base_url}/login; credentials kept in {credentials_path(keys_dir)}):"
    ]
    for a in found:
        lines.append(f"  {a['username']:<16} {a['role']}")
        lines.append(f"    password: {a['password']}")
        if a.get("totp_secret"):
            lines.append(f"    TOTP secret: {a['totp_secret']}")
            lines.append(f"    otpauth URI: {provisioning_uri(a['totp_secret'], a['username'])}")
            lines.append(
                f"    current code: python -c 'import pyotp; print(pyotp.TOTP(\"{a['totp_secret']}\").now())'"
            )
    return lines
