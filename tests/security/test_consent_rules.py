"""What a Consent and a CareTeam say about time and nesting, as the access policy reads them.

R4 Consent (https://hl7.org/fhir/R4/consent.html): the root ``provision`` has a ``type``
(deny/permit), ``actor``s, a ``period`` and nested ``provision``s that are exceptions to it. A
professional is blocked from a patient's record while an active Consent of that patient has a
deny provision — at the root or nested — naming them or their organisation, and its root
period (when given) covers now. R4 CareTeam (https://hl7.org/fhir/R4/careteam.html): a team
grants access to its patient while it is active (or has no status) and its ``period`` (when
given) covers now.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from hygie.settings import Settings
from tests.api.support import put_all
from tests.security.test_break_glass import token

PAST = {"start": "2020-01-01", "end": "2021-01-01"}
NOW = {"start": "2020-01-01", "end": "2099-01-01"}
FUTURE = {"start": "2098-01-01"}
DR_B = {"reference": "Practitioner/pb"}
ORG_B = {"reference": "Organization/orgB"}


def _professional(settings: Settings) -> dict[str, str]:
    principal = Principal(
        kind="professional",
        subject="acc-pb",
        scopes=parse_scopes("user/*.rs"),
        fhir_user="Practitioner/pb",
        organization="orgB",
    )
    return token(settings, principal)


def _consent(provision: dict[str, Any], status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Consent",
        "id": "c1",
        "status": status,
        "scope": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}
            ]
        },
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/alice"},
        "provision": provision,
    }


def _deny(actor: dict[str, Any], **extra: Any) -> dict[str, Any]:
    role = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PRCP"}]
    }
    return {"type": "deny", "actor": [{"role": role, "reference": actor}], **extra}


def _world(client: TestClient, *extra: dict[str, Any]) -> None:
    put_all(
        client,
        [
            {"resourceType": "Organization", "id": "orgB"},
            {"resourceType": "Practitioner", "id": "pb"},
            {"resourceType": "Patient", "id": "alice", "managingOrganization": ORG_B},
            *extra,
        ],
    )


def _sees_alice(client: TestClient, settings: Settings) -> bool:
    answer = client.get("/fhir/Patient/alice", headers=_professional(settings))
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


CONSENTS = [
    # (case, provision, status, blocked?)
    ("no consent", None, "active", False),
    ("root deny, no period", _deny(DR_B), "active", True),
    ("root deny naming the organisation", _deny(ORG_B), "active", True),
    ("root deny, period covering now", _deny(DR_B, period=NOW), "active", True),
    ("root deny, period over", _deny(DR_B, period=PAST), "active", False),
    ("root deny, period not begun", _deny(DR_B, period=FUTURE), "active", False),
    ("root deny, consent inactive", _deny(DR_B), "inactive", False),
    ("root deny, consent draft", _deny(DR_B), "draft", False),
    ("permit with a nested deny", {"type": "permit", "provision": [_deny(DR_B)]}, "active", True),
    (
        "permit with a nested deny of the organisation",
        {"type": "permit", "provision": [_deny(ORG_B)]},
        "active",
        True,
    ),
    (
        "twice nested deny",
        {"type": "permit", "provision": [{"type": "permit", "provision": [_deny(DR_B)]}]},
        "active",
        True,
    ),
    (
        "permit, nested deny, root period over",
        {"type": "permit", "period": PAST, "provision": [_deny(DR_B)]},
        "active",
        False,
    ),
    (
        "nested deny of someone else",
        {"type": "permit", "provision": [_deny({"reference": "Practitioner/other"})]},
        "active",
        False,
    ),
    (
        "nested permit of Dr B",
        {"type": "permit", "provision": [{"type": "permit", "actor": _deny(DR_B)["actor"]}]},
        "active",
        False,
    ),
]


@pytest.mark.parametrize(("case", "provision", "status", "blocked"), CONSENTS, ids=[c[0] for c in CONSENTS])
def test_consent_blocks_while_active_in_period_at_any_depth(
    settings: Settings, client: TestClient, case: str, provision: Any, status: str, blocked: bool
) -> None:
    extra = [] if provision is None else [_consent(provision, status)]
    _world(client, *extra)
    assert _sees_alice(client, settings) is (not blocked), case


TEAMS = [
    # (case, status, period, grants?)
    ("active team", "active", None, True),
    ("team without status", None, None, True),
    ("active team, period covering now", "active", NOW, True),
    ("active team, period over", "active", PAST, False),
    ("active team, period not begun", "active", FUTURE, False),
    ("inactive team", "inactive", None, False),
    ("suspended team", "suspended", None, False),
    ("team entered in error", "entered-in-error", None, False),
    ("proposed team", "proposed", None, False),
]


@pytest.mark.parametrize(("case", "status", "period", "grants"), TEAMS, ids=[t[0] for t in TEAMS])
def test_care_team_grants_while_active_in_period(
    settings: Settings, client: TestClient, case: str, status: str | None, period: Any, grants: bool
) -> None:
    team: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": "t1",
        "subject": {"reference": "Patient/bob"},
        "participant": [{"member": DR_B}],
    }
    if status is not None:
        team["status"] = status
    if period is not None:
        team["period"] = period
    put_all(
        client,
        [
            {"resourceType": "Organization", "id": "orgB"},
            {"resourceType": "Practitioner", "id": "pb"},
            {"resourceType": "Patient", "id": "bob"},
            team,
        ],
    )
    answer = client.get("/fhir/Patient/bob", headers=_professional(settings))
    assert answer.status_code == (200 if grants else 404), case
