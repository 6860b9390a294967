"""The leak suite (tests/security/test_leaks.py): writes, for every role that may write.

Nobody creates in, moves into, edits, deletes from or overwrites a record they cannot see, not even
by also naming a patient they see; conditional create/update/delete/patch, batch and transaction
entries (HAPI #727) and conditional references never match, return, touch or reveal a hidden
resource; only system scopes write the server's configuration. Each test runs on a fresh copy of
the world. Spec: https://hl7.org/fhir/R4/http.html (create, update, patch, delete, conditional
variants, batch/transaction).
"""

from __future__ import annotations

from typing import Any

from tests.security.leak_probe import (
    Probe,
    check,
    fresh_world,  # noqa: F401 (fixture)
    leak_database,  # noqa: F401 (fixture)
)
from tests.security.leak_roles import ROLES
from tests.security.leak_world import ID_SYSTEM

Problems = list[str]


# -- writes (each test on a fresh copy of the world) -------------------------------------------------------

# role → (hidden patient, visible patient, visible observation, hidden observation)
WRITERS = {
    "pro-a1": ("pat-b1", "pat-a1", "obs-pat-a1", "obs-pat-b1"),
    "pro-a2": ("pat-a2", "pat-a1", "obs-pat-a1", "obs-pat-a2"),
    "pro-b1": ("pat-old", "pat-btg", "obs-pat-btg", "obs-pat-old"),
    "gp": ("pat-none", "pat-gp", "obs-pat-gp", "obs-pat-none"),
    "patient-a1": ("pat-b1", "pat-a1", "obs-a1-lab", "obs-pat-b1"),
    "mother": ("pat-a1", "pat-kid", "obs-pat-kid", "obs-pat-a1"),
}
SYSTEM = ROLES["system"]


def _obs(tag: str, subject: str, *, performer: str | None = None, oid: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Observation",
        "identifier": [{"system": ID_SYSTEM, "value": tag}],
        "status": "final",
        "code": {"text": tag},
        "subject": {"reference": f"Patient/{subject}"},
    }
    if performer:
        body["performer"] = [{"reference": f"Patient/{performer}"}]
    if oid:
        body["id"] = oid
    return body


def _stored(probe: Probe, tag: str) -> set[str]:
    return set(probe.search(SYSTEM, f"Observation?identifier={ID_SYSTEM}|{tag}"))


def _vid(probe: Probe, key: str) -> str:
    got = probe.call(SYSTEM, "GET", key)
    return str(got.json()["meta"]["versionId"]) if got.status_code == 200 else str(got.status_code)


def test_writes_never_reach_a_hidden_record(fresh: Probe) -> None:
    """Creating in, moving into, adding a hidden patient to, overwriting or deleting a hidden
    record: refused, nothing stored, and what exists stays unseen."""
    probe, problems = fresh, []
    for name, (hidden, shown, obs_v, obs_h) in WRITERS.items():
        role = ROLES[name]
        before = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        creates = {
            f"{name}-about-hidden": _obs(f"{name}-about-hidden", hidden),
            f"{name}-hidden-performer": _obs(f"{name}-hidden-performer", shown, performer=hidden),
            f"{name}-hidden-subject": _obs(f"{name}-hidden-subject", hidden, performer=shown),
        }
        for tag, body in creates.items():
            got = probe.call(role, "POST", "Observation", json=body)
            if got.status_code != 403 or _stored(probe, tag):
                problems.append(f"{name} create {tag}: {got.status_code}, stored {_stored(probe, tag)}")
        moves = {
            "PUT subject": ("PUT", _obs("moved", hidden, oid=obs_v)),
            "PUT performer": ("PUT", _obs("moved", shown, performer=hidden, oid=obs_v)),
        }
        for how, (method, body) in moves.items():
            got = probe.call(role, method, f"Observation/{obs_v}", json=body)
            if got.status_code != 403:
                problems.append(f"{name} {how} into {hidden}: {got.status_code} {got.text[:200]}")
        patch = [{"op": "replace", "path": "/subject/reference", "value": f"Patient/{hidden}"}]
        got = probe.call(
            role, "PATCH", f"Observation/{obs_v}", json=patch, content_type="application/json-patch+json"
        )
        if got.status_code != 403:
            problems.append(f"{name} PATCH into {hidden}: {got.status_code}")
        # the hidden resource: a delete answers like one of an absent id and deletes nothing
        deleted, absent = (
            probe.call(role, "DELETE", f"Observation/{obs_h}"),
            probe.call(role, "DELETE", "Observation/zz-absent"),
        )
        if (deleted.status_code, deleted.text) != (absent.status_code, absent.text):
            problems.append(f"{name} DELETE {obs_h}: {deleted.status_code} vs {absent.status_code}")
        patched = probe.call(
            role, "PATCH", f"Observation/{obs_h}", json=patch, content_type="application/json-patch+json"
        )
        patched_absent = probe.call(
            role, "PATCH", "Observation/zz-absent", json=patch, content_type="application/json-patch+json"
        )
        if (patched.status_code, patched.text.replace(obs_h, "ID")) != (
            patched_absent.status_code,
            patched_absent.text.replace("zz-absent", "ID"),
        ):
            problems.append(f"{name} PATCH {obs_h}: {patched.status_code} vs {patched_absent.status_code}")
        # overwriting a hidden id: refused, the hidden resource untouched
        got = probe.call(
            role, "PUT", f"Observation/{obs_h}", json=_obs(f"{name}-overwrite", shown, oid=obs_h)
        )
        if got.status_code < 400:
            problems.append(f"{name} PUT {obs_h}: {got.status_code}")
        # the server's configuration (a SearchParameter could redefine Consent provision-type)
        param = {
            "resourceType": "SearchParameter",
            "url": f"https://example.org/{name}",
            "name": "x",
            "status": "active",
            "description": "x",
            "code": "provision-type",
            "base": ["Consent"],
            "type": "token",
            "expression": "Consent.status",
        }
        got = probe.call(role, "POST", "SearchParameter", json=param)
        if got.status_code != 403 or probe.search(SYSTEM, "SearchParameter"):
            problems.append(f"{name} POST SearchParameter: {got.status_code}")
        # a Group of a visible and a hidden patient: neither edited nor deleted
        group = _vid(probe, "Group/grp-ab")
        member = {"entity": {"reference": f"Patient/{shown}"}}
        body = {"resourceType": "Group", "id": "grp-ab", "type": "person", "actual": True, "member": [member]}
        probe.call(role, "PUT", "Group/grp-ab", json=body)
        probe.call(role, "DELETE", "Group/grp-ab")
        after = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        if after != before or _vid(probe, "Group/grp-ab") != group:
            problems.append(f"{name} changed versions: {before} -> {after}, group {group}")
    check(problems, probe)


def test_conditional_and_bundle_writes_ignore_hidden_resources(fresh: Probe) -> None:
    """If-None-Exist, conditional update/delete/patch, batch and transaction entries and
    conditional references never match, return, touch or reveal a hidden resource."""
    probe, problems = fresh, []
    for name, (hidden, shown, obs_v, obs_h) in WRITERS.items():
        role = ROLES[name]
        before = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        by_id = f"identifier={ID_SYSTEM}|id-{obs_h}"
        got = probe.call(
            role, "POST", "Observation", json=_obs(f"{name}-c1", shown), headers={"If-None-Exist": by_id}
        )
        if got.status_code != 201 or _stored(probe, f"{name}-c1") == set():
            problems.append(f"{name} If-None-Exist on {obs_h}: {got.status_code} {got.text[:200]}")
        both = f"identifier={ID_SYSTEM}|id-{obs_h},{ID_SYSTEM}|id-{obs_v}"
        got = probe.call(
            role, "POST", "Observation", json=_obs(f"{name}-c2", shown), headers={"If-None-Exist": both}
        )
        if got.status_code != 200 or got.json().get("id") != obs_v:
            problems.append(f"{name} If-None-Exist on {obs_h} or {obs_v}: {got.status_code} {got.text[:200]}")
        got = probe.call(role, "PUT", f"Observation?{by_id}", json=_obs(f"{name}-c3", shown))
        if got.status_code != 201 or got.json().get("id") == obs_h:
            problems.append(f"{name} conditional update on {obs_h}: {got.status_code} {got.text[:200]}")
        got = probe.call(role, "DELETE", f"Observation?{by_id}")
        if got.status_code != 204:
            problems.append(f"{name} conditional delete on {obs_h}: {got.status_code}")
        patch = [{"op": "replace", "path": "/status", "value": "amended"}]
        hidden_patch = probe.call(
            role, "PATCH", f"Observation?{by_id}", json=patch, content_type="application/json-patch+json"
        )
        none_patch = probe.call(
            role,
            "PATCH",
            f"Observation?identifier={ID_SYSTEM}|nothing",
            json=patch,
            content_type="application/json-patch+json",
        )
        if (hidden_patch.status_code, hidden_patch.text) != (none_patch.status_code, none_patch.text):
            problems.append(f"{name} conditional patch on {obs_h}: {hidden_patch.status_code}")
        # batch: each entry on its own; transaction: all or nothing
        entries = [
            {"resource": _obs(f"{name}-b1", hidden), "request": {"method": "POST", "url": "Observation"}},
            {"request": {"method": "DELETE", "url": f"Observation/{obs_h}"}},
            {"request": {"method": "GET", "url": f"Observation/{obs_h}"}},
            {
                "resource": _obs("moved", hidden, oid=obs_v),
                "request": {"method": "PUT", "url": f"Observation/{obs_v}"},
            },
            {"resource": _obs(f"{name}-b2", shown), "request": {"method": "POST", "url": "Observation"}},
        ]
        got = probe.call(role, "POST", "", json={"resourceType": "Bundle", "type": "batch", "entry": entries})
        statuses = [e["response"]["status"].split()[0] for e in got.json().get("entry", [])]
        if statuses != ["403", "204", "404", "403", "201"]:
            problems.append(f"{name} batch: {statuses}")
        if _stored(probe, f"{name}-b1") or not _stored(probe, f"{name}-b2"):
            problems.append(f"{name} batch stored {_stored(probe, f'{name}-b1')}")
        entries = [
            {"resource": _obs(f"{name}-t1", shown), "request": {"method": "POST", "url": "Observation"}},
            {"resource": _obs(f"{name}-t2", hidden), "request": {"method": "POST", "url": "Observation"}},
        ]
        got = probe.call(
            role, "POST", "", json={"resourceType": "Bundle", "type": "transaction", "entry": entries}
        )
        if got.status_code != 403 or _stored(probe, f"{name}-t1") or _stored(probe, f"{name}-t2"):
            problems.append(f"{name} transaction with a hidden entry: {got.status_code}")
        entry = {
            "resource": _obs(f"{name}-t4", shown),
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": by_id},
        }
        got = probe.call(
            role, "POST", "", json={"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
        )
        statuses = [e["response"]["status"] for e in got.json().get("entry", [])]
        if statuses != ["201 Created"] or not _stored(probe, f"{name}-t4"):
            problems.append(f"{name} transaction ifNoneExist on {obs_h}: {got.status_code} {statuses}")
        answers = []
        for value in (f"id-{hidden}", "id-nobody"):
            body = _obs(f"{name}-t3", shown)
            body["focus"] = [{"reference": f"Patient?identifier={ID_SYSTEM}|{value}"}]
            bundle = {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": body, "request": {"method": "POST", "url": "Observation"}}],
            }
            got = probe.call(role, "POST", "", json=bundle)
            answers.append((got.status_code, got.text.replace(value, "VALUE")))
        if answers[0] != answers[1] or answers[0][0] != 400:
            problems.append(f"{name} conditional reference to {hidden}: {answers}")
        after = {k: _vid(probe, f"Observation/{k}") for k in (obs_v, obs_h)}
        if after != before:
            problems.append(f"{name} changed versions: {before} -> {after}")
    check(problems, probe)
