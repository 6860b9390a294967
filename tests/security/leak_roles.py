"""The callers of the leak suite (tests/security/leak_world.py): who they are and what the model
says they may see. Tokens are minted from these with hygie.auth.tokens.issue."""

from __future__ import annotations

from dataclasses import dataclass

CHILD_ACCOUNT_PATIENTS = ("pat-mom", "pat-kid")


@dataclass(frozen=True)
class Role:
    """A caller: how the token is minted and what the model says it may see."""

    name: str
    kind: str  # system | professional | patient | admin
    scope: str
    patients: frozenset[str] = frozenset()  # records it may read (model), launch or not
    shared: bool = False  # reads reference data
    unrestricted: bool = False
    hides_groups: bool = False
    types: frozenset[str] | None = None  # types granted (None: all)
    lab_only: frozenset[str] = frozenset()  # types granted only with category=laboratory
    practitioner: str | None = None
    organization: str | None = None
    accounts_patients: tuple[str, ...] = ()  # Principal.patients
    launch: str | None = None

    @property
    def subject(self) -> str:
        return f"acct-{self.name}"


def _roles() -> dict[str, Role]:
    a1 = frozenset({"pat-a1", "pat-a2", "pat-ab", "pat-btg", "pat-old"})
    roles = [
        Role("system", "system", "system/*.cruds", unrestricted=True),
        Role("system-launch-b1", "system", "patient/*.rs", frozenset({"pat-b1"}), launch="pat-b1"),
        Role("pro-a1", "professional", "user/*.cruds", a1, True, practitioner="pr-a1", organization="orgA"),
        Role(
            "pro-a2",
            "professional",
            "user/*.cruds",
            frozenset({"pat-a1", "pat-btg", "pat-old"}),
            True,
            practitioner="pr-a2",
            organization="orgA",
        ),
        Role(
            "pro-b1",
            "professional",
            "user/*.cruds",
            frozenset({"pat-b1", "pat-ab", "pat-mom", "pat-kid", "pat-btg"}),
            True,
            practitioner="pr-b1",
            organization="orgB",
        ),
        Role("gp", "professional", "user/*.cruds", frozenset({"pat-gp"}), True, practitioner="pr-gp"),
        Role(
            "patient-a1",
            "patient",
            "user/*.cruds",
            frozenset({"pat-a1"}),
            True,
            hides_groups=True,
            accounts_patients=("pat-a1",),
        ),
        Role(
            "mother",
            "patient",
            "user/*.cruds",
            frozenset(CHILD_ACCOUNT_PATIENTS),
            True,
            hides_groups=True,
            accounts_patients=CHILD_ACCOUNT_PATIENTS,
        ),
        Role(
            "mother-app-kid",
            "patient",
            "patient/*.rs",
            frozenset(CHILD_ACCOUNT_PATIENTS),
            hides_groups=True,
            accounts_patients=CHILD_ACCOUNT_PATIENTS,
            launch="pat-kid",
        ),
        Role(
            "pro-a1-app-a1",
            "professional",
            "patient/*.rs",
            a1,
            practitioner="pr-a1",
            organization="orgA",
            launch="pat-a1",
        ),
        Role(
            "pro-a1-app-b1",  # launched on a patient pr-a1 does not care for
            "professional",
            "patient/*.rs",
            a1,
            practitioner="pr-a1",
            organization="orgA",
            launch="pat-b1",
        ),
        Role("admin", "admin", "user/*.rs", shared=True),
        Role(
            "app-a1-lab",
            "patient",
            "patient/Patient.rs patient/Observation.rs?category=laboratory",
            frozenset({"pat-a1"}),
            hides_groups=True,
            types=frozenset({"Patient", "Observation"}),
            lab_only=frozenset({"Observation"}),
            accounts_patients=("pat-a1",),
            launch="pat-a1",
        ),
        Role(
            "patient-unknown-launch",
            "patient",
            "patient/*.rs",
            hides_groups=True,
            accounts_patients=("pat-a1",),
            launch="nobody",
        ),
        Role("system-unknown-launch", "system", "patient/*.rs", launch="nobody"),
    ]
    return {r.name: r for r in roles}


ROLES = _roles()

# Break-the-glass grants: (id, role, patient, active)
GRANTS = (("btg-1", "pro-b1", "pat-btg", True), ("btg-2", "pro-b1", "pat-old", False))
