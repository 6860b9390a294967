"""OperationOutcome building blocks and the one FHIR error type.

Spec: https://hl7.org/fhir/R4/operationoutcome.html

Every failure anywhere in Hygie is raised as :class:`FhirError` carrying one or more
:class:`Issue`; ``hygie.errors`` is the single place that turns it into an HTTP response.
Diagnostics are bilingual (French and English): an issue carries a message key from
``hygie.fhir.messages`` and its parameters, and is rendered in the caller's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hygie.fhir.messages import render

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: ``code`` is from http://hl7.org/fhir/issue-type."""

    code: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    expression: tuple[str, ...] = ()
    severity: Severity = "error"

    def to_json(self, lang: str = "fr") -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": render(self.key, lang, self.params),
        }
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


def outcome(issues: list[Issue] | tuple[Issue, ...], lang: str = "fr") -> dict[str, Any]:
    """Build an OperationOutcome resource from issues."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [i.to_json(lang) for i in issues]
        or [{"severity": "information", "code": "informational", "diagnostics": render("ok", lang, {})}],
    }


class FhirError(Exception):
    """An error that becomes an OperationOutcome with the given HTTP status."""

    def __init__(self, status: int, *issues: Issue, headers: dict[str, str] | None = None) -> None:
        super().__init__(issues[0].key if issues else str(status))
        self.status = status
        self.issues: tuple[Issue, ...] = issues
        self.headers = headers or {}

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        key: str,
        expression: tuple[str, ...] = (),
        **params: Any,
    ) -> FhirError:
        return cls(status, Issue(code=code, key=key, params=params, expression=expression))

    def outcome(self, lang: str = "fr") -> dict[str, Any]:
        return outcome(self.issues, lang)
