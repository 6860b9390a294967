"""The world of the leak suite (tests/security/test_leaks.py, docs/security-leaks.md).

Two organisations (a CHU and a clinic), four professionals, ten patients and their records, plus
decoys placed where a side door would find them. Every version of every resource carries a
*marker* (``meta.tag`` ``urn:test:marker``), a string found nowhere else: a response that contains
the marker of a version the caller may not see is a leak, whatever the response is.

The model says, independently of the server's code, who may see what (:class:`Role`,
:meth:`World.sees`) and how resources reference each other (:attr:`Item.refs`), so every test
can compute the exact expected answer of a query.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.security.leak_roles import Role

MARKER_SYSTEM = "urn:test:marker"
ID_SYSTEM = "urn:test:id"
CODE_SYSTEM = "urn:test:code"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

# Types the policy treats as reference data (any authenticated user with a grant reads them).
SHARED = frozenset({"Organization", "Practitioner", "Medication", "Device"})
# Types that may carry anybody's data and belong to no compartment: system clients only.
PRIVATE = frozenset({"Bundle"})
# Types outside the R4 Patient compartment that point at a patient (``patient`` parameter; for a
# Binary, its ``securityContext``); without one they are for system clients only, like PRIVATE.
ATTACHED = frozenset({"Task", "Device", "Binary"})
# R4 Patient compartment member types used in the world.
MEMBERS = frozenset(
    {"Patient", "Observation", "Encounter", "Condition", "Consent", "CareTeam", "Provenance", "Group", "List"}
)
HIDDEN_FROM_PATIENTS = frozenset({"Group", "List"})
# Resource types referenced by $everything as supporting resources.
SUPPORTING = frozenset(
    {"Device", "Location", "Medication", "Organization", "Practitioner", "PractitionerRole", "Substance"}
)


@dataclass(frozen=True)
class Version:
    """One stored version: its marker, the patients whose compartment it is in, its body."""

    marker: str
    patients: frozenset[str]
    body: dict[str, Any] | None  # None: a deletion


@dataclass
class Item:
    """A resource of the world with all its versions (vid = position + 1)."""

    type: str
    id: str
    versions: list[Version] = field(default_factory=list)
    refs: tuple[tuple[str, str], ...] = ()  # (search parameter code, "Type/id") of the current version
    attached: frozenset[str] = frozenset()  # patients of a Task/Device (``patient`` parameter)

    @property
    def key(self) -> str:
        return f"{self.type}/{self.id}"

    @property
    def deleted(self) -> bool:
        return self.versions[-1].body is None

    @property
    def current(self) -> Version:
        return self.versions[-1] if not self.deleted else self.versions[-2]

    @property
    def body(self) -> dict[str, Any]:
        body = self.current.body
        assert body is not None
        return body

    @property
    def patients(self) -> frozenset[str]:
        """Patients whose record this resource belongs to (compartment or ``patient`` link)."""
        return self.current.patients | self.attached

    def targets(self, *codes: str) -> list[str]:
        return [t for c, t in self.refs if not codes or c in codes]


def marker(key: str, vid: int) -> str:
    """The unique text of one version (no marker is a substring of another)."""
    return f"zq.{key.replace('/', '.')}.v{vid}.zq"


class Builder:
    """Collects the items of the world."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self.day = 0

    def add(
        self,
        body: dict[str, Any],
        refs: Iterable[tuple[str, str]] = (),
        patients: Iterable[str] = (),
        attached: Iterable[str] = (),
    ) -> Item:
        item = Item(body["resourceType"], body["id"], refs=tuple(refs), attached=frozenset(attached))
        self.items[item.key] = item
        self._version(item, body, frozenset(patients))
        return item

    def revise(
        self, key: str, body: dict[str, Any], refs: Iterable[tuple[str, str]], patients: Iterable[str]
    ) -> None:
        item = self.items[key]
        item.refs = tuple(refs)
        self._version(item, body, frozenset(patients))

    def delete(self, key: str) -> None:
        item = self.items[key]
        item.versions.append(Version(marker(key, len(item.versions) + 1), frozenset(), None))

    def _version(self, item: Item, body: dict[str, Any], patients: frozenset[str]) -> None:
        mark = marker(item.key, len(item.versions) + 1)
        stored = {**body, "meta": {"tag": [{"system": MARKER_SYSTEM, "code": mark}]}}
        item.versions.append(Version(mark, patients, stored))

    def next_date(self) -> str:
        self.day += 1
        return f"2024-{1 + self.day // 28:02d}-{1 + self.day % 28:02d}"


def _ident(rid: str) -> list[dict[str, str]]:
    return [{"system": ID_SYSTEM, "value": f"id-{rid}"}]


def _coding(system: str, code: str) -> dict[str, list[dict[str, str]]]:
    return {"coding": [{"system": system, "code": code}]}


def _ref(key: str) -> dict[str, str]:
    return {"reference": key}


# -- the people ------------------------------------------------------------------------------------

ORGS = {"orgA": "CHU Alpha", "orgB": "Clinique Beta"}
PRACTITIONERS = {
    "pr-a1": ("Arnaud", "orgA"),
    "pr-a2": ("Agathe", "orgA"),
    "pr-b1": ("Bertrand", "orgB"),
    "pr-gp": ("Gaston", None),
    "pr-lst": ("Lise", None),  # referenced by a List only
}
# patient id → (family name, managing organisation, general practitioner, performer of its data)
PATIENTS: dict[str, tuple[str, str | None, str | None, str]] = {
    "pat-a1": ("Alphaun", "orgA", None, "pr-a1"),
    "pat-a2": ("Alphadeux", "orgA", None, "pr-a1"),  # blocked pr-a2 (Consent)
    "pat-b1": ("Bravo", "orgB", None, "pr-b1"),
    "pat-ab": ("Ambi", "orgB", None, "pr-b1"),  # CareTeam with pr-a1
    "pat-gp": ("Generaliste", None, "pr-gp", "pr-gp"),
    "pat-mom": ("Mere", "orgB", None, "pr-b1"),
    "pat-kid": ("Enfant", "orgB", None, "pr-b1"),
    "pat-btg": ("Urgence", "orgA", None, "pr-a1"),  # break-the-glass grant for pr-b1
    "pat-old": ("Expire", "orgA", None, "pr-a1"),  # expired grant for pr-b1
    "pat-none": ("Orphelin", None, None, "pr-gp"),
    "pat-noa": ("Refus", "orgA", None, "pr-a1"),  # blocked the whole of orgA (Consent)
}


class World:
    """The items and the visibility model."""

    def __init__(self) -> None:
        b = Builder()
        self.builder = b
        for oid, name in ORGS.items():
            b.add({"resourceType": "Organization", "id": oid, "identifier": _ident(oid), "name": name})
        for pid, (family, _org) in PRACTITIONERS.items():
            b.add(
                {
                    "resourceType": "Practitioner",
                    "id": pid,
                    "identifier": _ident(pid),
                    "name": [{"family": family}],
                }
            )
        b.add({"resourceType": "Medication", "id": "med-1", "code": {"text": "paracetamol"}})
        b.add({"resourceType": "Device", "id": "dev-free", "identifier": _ident("dev-free")})
        for pid, (family, org, gp, performer) in PATIENTS.items():
            self._patient(pid, family, org, gp, performer)
        self._decoys(b)
        self.items = b.items

    # -- construction ------------------------------------------------------------------------------
    def _patient(self, pid: str, family: str, org: str | None, gp: str | None, performer: str) -> None:
        b = self.builder
        body: dict[str, Any] = {
            "resourceType": "Patient",
            "id": pid,
            "identifier": _ident(pid),
            "name": [{"family": family, "given": ["Test"]}],
        }
        refs: list[tuple[str, str]] = []
        if org:
            body["managingOrganization"] = _ref(f"Organization/{org}")
            refs.append(("organization", f"Organization/{org}"))
        if gp:
            body["generalPractitioner"] = [_ref(f"Practitioner/{gp}")]
            refs.append(("general-practitioner", f"Practitioner/{gp}"))
        b.add(body, refs, [pid])
        subject = [("subject", f"Patient/{pid}"), ("patient", f"Patient/{pid}")]
        enc = f"enc-{pid}"
        enc_body: dict[str, Any] = {
            "resourceType": "Encounter",
            "id": enc,
            "identifier": _ident(enc),
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": _ref(f"Patient/{pid}"),
        }
        enc_refs = list(subject)
        if org:
            enc_body["serviceProvider"] = _ref(f"Organization/{org}")
            enc_refs.append(("service-provider", f"Organization/{org}"))
        b.add(enc_body, enc_refs, [pid])
        self.observation(f"obs-{pid}", pid, f"secret-{pid}", performer, encounter=enc)
        b.add(
            {
                "resourceType": "Condition",
                "id": f"cond-{pid}",
                "identifier": _ident(f"cond-{pid}"),
                "code": {"text": f"condition of {pid}"},
                "subject": _ref(f"Patient/{pid}"),
                "encounter": _ref(f"Encounter/{enc}"),
            },
            [*subject, ("encounter", f"Encounter/{enc}")],
            [pid],
        )

    def observation(
        self,
        oid: str,
        pid: str,
        code: str,
        performer: str,
        *,
        category: str = "vital-signs",
        encounter: str | None = None,
        has_member: tuple[str, ...] = (),
        focus: tuple[str, ...] = (),
        revise: bool = False,
    ) -> None:
        body: dict[str, Any] = {
            "resourceType": "Observation",
            "id": oid,
            "identifier": _ident(oid),
            "status": "final",
            "category": [_coding(CATEGORY, category)],
            "code": _coding(CODE_SYSTEM, code),
            "subject": _ref(f"Patient/{pid}"),
            "performer": [_ref(f"Practitioner/{performer}")],
            "effectiveDateTime": self.builder.next_date(),
            "valueQuantity": {"value": 37, "unit": "Cel"},
        }
        refs = [
            ("subject", f"Patient/{pid}"),
            ("patient", f"Patient/{pid}"),
            ("performer", f"Practitioner/{performer}"),
        ]
        if encounter:
            body["encounter"] = _ref(f"Encounter/{encounter}")
            refs.append(("encounter", f"Encounter/{encounter}"))
        if has_member:
            body["hasMember"] = [_ref(k) for k in has_member]
            refs.extend(("has-member", k) for k in has_member)
        if focus:
            body["focus"] = [_ref(k) for k in focus]
            refs.extend(("focus", k) for k in focus)
        if revise:
            self.builder.revise(f"Observation/{oid}", body, refs, [pid])
        else:
            self.builder.add(body, refs, [pid])

    def _decoys(self, b: Builder) -> None:
        # Blocks: pat-a2 → pr-a2, pat-noa → all of orgA, pat-btg → orgB (overridden by the
        # break-the-glass grant); an inactive Consent of pat-a1 blocks nobody.
        for cid, pid, actor, status in (
            ("cons-a2", "pat-a2", "Practitioner/pr-a2", "active"),
            ("cons-a1", "pat-a1", "Practitioner/pr-a1", "inactive"),
            ("cons-noa", "pat-noa", "Organization/orgA", "active"),
            ("cons-btg", "pat-btg", "Organization/orgB", "active"),  # break-the-glass overrides it
        ):
            b.add(
                {
                    "resourceType": "Consent",
                    "id": cid,
                    "identifier": _ident(cid),
                    "status": status,
                    "scope": _coding("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
                    "category": [_coding("http://loinc.org", "59284-0")],
                    "patient": _ref(f"Patient/{pid}"),
                    "policyRule": _coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTOUT"),
                    "provision": {
                        "type": "deny",
                        "actor": [{"role": _coding(PARTICIPATION, "PRCP"), "reference": _ref(actor)}],
                    },
                },
                [("patient", f"Patient/{pid}"), ("actor", actor)],
                [pid],
            )
        # pat-ab (clinic) is cared for by pr-a1 (CHU) through a CareTeam.
        b.add(
            {
                "resourceType": "CareTeam",
                "id": "ct-ab",
                "identifier": _ident("ct-ab"),
                "status": "active",
                "subject": _ref("Patient/pat-ab"),
                "participant": [{"member": _ref("Practitioner/pr-a1")}],
            },
            [
                ("subject", "Patient/pat-ab"),
                ("patient", "Patient/pat-ab"),
                ("participant", "Practitioner/pr-a1"),
            ],
            ["pat-ab"],
        )
        # pat-a1's laboratory result; a panel whose member and focus belong to pat-b1.
        self.observation("obs-a1-lab", "pat-a1", "secret-lab-a1", "pr-a1", category="laboratory")
        self.observation(
            "obs-a1-panel",
            "pat-a1",
            "panel-a1",
            "pr-a1",
            has_member=("Observation/obs-pat-b1",),
            focus=("Patient/pat-b1",),
        )
        # pat-b1's observation about pat-a1 (focus): _revinclude / _has must not reveal it.
        self.observation("obs-b1-focus", "pat-b1", "secret-focus-b1", "pr-b1", focus=("Patient/pat-a1",))
        # A Provenance of pat-b1's record that points at pat-a1's observation.
        b.add(
            {
                "resourceType": "Provenance",
                "id": "prov-b1",
                "target": [_ref("Observation/obs-pat-a1"), _ref("Patient/pat-b1")],
                "recorded": "2024-03-01T10:00:00Z",
                "agent": [{"who": _ref("Practitioner/pr-b1")}],
            },
            [
                ("target", "Observation/obs-pat-a1"),
                ("target", "Patient/pat-b1"),
                ("patient", "Patient/pat-b1"),
                ("agent", "Practitioner/pr-b1"),
            ],
            ["pat-b1"],
        )
        # A Group and a List that gather several patients' data.
        b.add(
            {
                "resourceType": "Group",
                "id": "grp-ab",
                "identifier": _ident("grp-ab"),
                "type": "person",
                "actual": True,
                "member": [{"entity": _ref("Patient/pat-a1")}, {"entity": _ref("Patient/pat-b1")}],
            },
            [("member", "Patient/pat-a1"), ("member", "Patient/pat-b1")],
            ["pat-a1", "pat-b1"],
        )
        b.add(
            {
                "resourceType": "List",
                "id": "lst-a1",
                "identifier": _ident("lst-a1"),
                "status": "current",
                "mode": "working",
                "subject": _ref("Patient/pat-a1"),
                "source": _ref("Practitioner/pr-lst"),
                "entry": [{"item": _ref("Observation/obs-pat-a1")}, {"item": _ref("Observation/obs-pat-b1")}],
            },
            [
                ("subject", "Patient/pat-a1"),
                ("patient", "Patient/pat-a1"),
                ("source", "Practitioner/pr-lst"),
                ("item", "Observation/obs-pat-a1"),
                ("item", "Observation/obs-pat-b1"),
            ],
            ["pat-a1"],
        )
        # Resources outside the Patient compartment that hold pat-b1's data.
        b.add(
            {
                "resourceType": "Task",
                "id": "task-b1",
                "identifier": _ident("task-b1"),
                "status": "requested",
                "intent": "order",
                "description": "call Bravo about the biopsy",
                "for": _ref("Patient/pat-b1"),
            },
            [("subject", "Patient/pat-b1"), ("patient", "Patient/pat-b1")],
            attached=["pat-b1"],
        )
        b.add(
            {
                "resourceType": "Device",
                "id": "dev-b1",
                "identifier": _ident("dev-b1"),
                "patient": _ref("Patient/pat-b1"),
            },
            [("patient", "Patient/pat-b1")],
            attached=["pat-b1"],
        )
        b.add(
            {
                "resourceType": "Binary",
                "id": "bin-b1",
                "contentType": "text/plain",
                "data": base64.b64encode(b"biopsy report of Bravo").decode(),
            }
        )
        b.add(  # a document of pat-b1's record (securityContext): readable with it, by its carers
            {
                "resourceType": "Binary",
                "id": "bin-b1-ctx",
                "contentType": "text/plain",
                "securityContext": _ref("Patient/pat-b1"),
                "data": base64.b64encode(b"scan of Bravo's knee").decode(),
            },
            [("patient", "Patient/pat-b1")],
            attached=["pat-b1"],
        )
        b.add(  # one whose securityContext is not a patient: nobody's record, system clients only
            {
                "resourceType": "Binary",
                "id": "bin-b1-doc",
                "contentType": "text/plain",
                "securityContext": _ref("Observation/obs-b1-focus"),
                "data": base64.b64encode(b"annex of Bravo").decode(),
            },
        )
        b.add(
            {
                "resourceType": "Bundle",
                "id": "bnd-b1",
                "type": "collection",
                "entry": [
                    {
                        "fullUrl": "urn:uuid:6c0e0c1a-2b1e-4a56-9d3e-3f1c2f6b7a10",
                        "resource": {"resourceType": "Patient", "name": [{"family": "Bravo"}]},
                    }
                ],
            }
        )
        # An observation moved from pat-b1's record to pat-a1's: version 1 stays pat-b1's.
        self.observation("obs-moved", "pat-b1", "secret-moved", "pr-b1")
        self.observation("obs-moved", "pat-a1", "moved", "pr-a1", revise=True)
        # An observation of pat-a1 corrected once (both versions are pat-a1's), one deleted.
        self.observation("obs-a1-v", "pat-a1", "first", "pr-a1", category="laboratory")
        self.observation("obs-a1-v", "pat-a1", "second", "pr-a1", category="laboratory", revise=True)
        self.observation("obs-a1-del", "pat-a1", "secret-deleted-a1", "pr-a1")
        b.delete("Observation/obs-a1-del")
        self.observation("obs-a1-re", "pat-a1", "recreated", "pr-a1")  # deleted, then written again
        b.delete("Observation/obs-a1-re")
        self.observation("obs-a1-re", "pat-a1", "recreated", "pr-a1", revise=True)
        # Data of the GP's patient and of the orphan, performed by the GP.
        self.observation("obs-gp-2", "pat-gp", "secret-gp-2", "pr-gp")

    # -- the model -----------------------------------------------------------------------------------
    def item(self, key: str) -> Item:
        return self.items[key]

    def of_type(self, rtype: str) -> list[Item]:
        return [i for i in self.items.values() if i.type == rtype]

    def sees(self, role: Role, item: Item) -> bool:
        """Whether ``role`` may read the current version of ``item``."""
        if role.unrestricted:
            return True
        if item.deleted or item.type in PRIVATE:
            return False
        if role.types is not None and item.type not in role.types:
            return False
        if item.type in role.lab_only and not self._laboratory(item):
            return False
        if role.launch is not None:  # patient/ scopes: the launch patient's record only
            if role.launch not in item.patients:
                return False
        elif item.type in SHARED and not item.attached:
            return role.shared
        if role.hides_groups and item.type in HIDDEN_FROM_PATIENTS:
            return False
        return bool(item.patients & role.patients)

    def sees_version(self, role: Role, item: Item, vid: int) -> bool:
        """Whether ``role`` may read version ``vid``: the resource is visible and the version
        belongs to no patient the current version does not (moved resources keep their past)."""
        if role.unrestricted:
            return True
        if not self.sees(role, item):
            return False
        version = item.versions[vid - 1]
        if vid == len(item.versions):
            return True
        if item.type in role.lab_only:
            return False  # scope criteria cannot be checked on past versions
        return version.patients <= item.current.patients

    @staticmethod
    def _laboratory(item: Item) -> bool:
        return any(
            c.get("code") == "laboratory" for cat in item.body.get("category", []) for c in cat["coding"]
        )

    def visible(self, role: Role, rtype: str | None = None) -> set[str]:
        """Keys of the live resources ``role`` may read (of ``rtype``)."""
        return {
            i.key
            for i in self.items.values()
            if (rtype is None or i.type == rtype) and not i.deleted and self.sees(role, i)
        }

    def forbidden(self, role: Role) -> list[str]:
        """Markers of every version ``role`` may not read."""
        return [
            v.marker
            for i in self.items.values()
            for vid, v in enumerate(i.versions, 1)
            if v.body is not None and not self.sees_version(role, i, vid)
        ]

    def family(self, key: str) -> str:
        item = self.items.get(key)
        if item is None or item.type not in ("Patient", "Practitioner"):
            return ""
        return str(item.body["name"][0]["family"])

    def name(self, key: str) -> str:
        item = self.items.get(key)
        return str(item.body.get("name", "")) if item is not None and item.type == "Organization" else ""

    def code(self, key: str) -> str:
        item = self.items[key]
        return str(item.body["code"]["coding"][0]["code"]) if item.type == "Observation" else ""
