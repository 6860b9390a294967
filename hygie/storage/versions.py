"""Stored versions of resources: ids, instants, the compressed body, :class:`Version` and the
stamping of server-owned ``meta`` (shared by the store, history and the change feed). Bodies are
compressed by :mod:`hygie.storage.codec`."""

from __future__ import annotations

import secrets
from base64 import b32encode
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from hygie.fhir import jsonio


def new_id() -> str:
    """A server-assigned logical id: 80 random bits, 16 lowercase base32 characters."""
    return b32encode(secrets.token_bytes(10)).decode("ascii").lower()


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@lru_cache(maxsize=4096)
def instant(ms: int) -> str:
    """FHIR instant with millisecond precision in UTC."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Version:
    """One stored version of a resource. ``body`` is its JSON (with id and meta), None if deleted."""

    type: str
    id: str
    vid: int
    last_updated: int
    deleted: bool
    method: str
    body: bytes | None
    rk: int = 0
    seq: int = 0

    @property
    def etag(self) -> str:
        return f'W/"{self.vid}"'

    @property
    def last_modified(self) -> datetime:
        return datetime.fromtimestamp(self.last_updated / 1000, UTC)

    def resource(self) -> dict[str, Any]:
        if self.body is None:
            raise ValueError("deleted version has no body")
        data: dict[str, Any] = jsonio.loads(self.body)
        return data


def stamp(resource: dict[str, Any], rtype: str, rid: str, vid: int, ms: int) -> dict[str, Any]:
    """Return the resource as stored: resourceType, id, meta first; server-owned meta set."""
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(vid)
    meta["lastUpdated"] = instant(ms)
    out: dict[str, Any] = {"resourceType": rtype, "id": rid, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out
