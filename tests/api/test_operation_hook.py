"""Operations plugged in by the composition root (``FhirApi.operations``, hygie/api/http.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from hygie.api.context import FhirRequest
from hygie.api.http import OperationCall, operation_key
from hygie.api.routes import fill_path
from hygie.api.search import find
from tests.support import open_client


def _key(path: str) -> str | None:
    return operation_key(fill_path(FhirRequest(method="GET"), [s for s in path.split("/") if s]))


def test_keys_name_the_level_type_and_operation() -> None:
    assert _key("$export") == "system:$export"
    assert _key("Patient/$export") == "type:Patient:$export"
    assert _key("Group/g1/$export") == "instance:Group:$export"
    assert _key("Patient/p1") is None
    assert _key("Patient/p1/_history") is None


def test_a_plugged_operation_gets_the_callers_policy_and_body(settings: Any) -> None:
    seen: dict[str, Any] = {}

    async def probe(call: OperationCall) -> Response:
        seen["body"] = await call.read_body()
        seen["scope"] = call.principal.scopes if call.principal else None

        def work(session: Any) -> list[str]:
            return [v.id for v in find(call.env(session), "Patient", [], limit=10)]

        return JSONResponse({"ids": await call.api.db.run(work, write=False)}, status_code=202)

    with open_client(settings) as client:
        created = client.post("/fhir/Patient", json={"resourceType": "Patient", "active": True})
        assert created.status_code == 201
        client.app.state.fhir_api.operations["type:Patient:$probe"] = probe  # type: ignore[attr-defined]
        answer = client.post("/fhir/Patient/$probe", content=b"raw \x00 bytes")
        assert answer.status_code == 202
        assert answer.json()["ids"] == [created.json()["id"]]
        assert seen["body"] == b"raw \x00 bytes"
        assert seen["scope"] is not None
        # an unregistered operation is still unknown, and a missing token still refused
        assert client.get("/fhir/Patient/$other").status_code == 404
        anonymous = client.post("/fhir/Patient/$probe", headers={"Authorization": ""})
        assert anonymous.status_code == 401
