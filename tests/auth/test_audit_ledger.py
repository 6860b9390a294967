"""The append-only audit ledger: hash chain, signed checkpoints, tamper detection, retention.

Runs on both databases. Tampering is done the way an attacker with database access would: with
plain SQL on ``audit_log`` / ``audit_checkpoint``. AuditEvent: https://hl7.org/fhir/R4/auditevent.html ;
events are built with the BALP builders (https://profiles.ihe.net/ITI/BALP/).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson
import pytest

from hygie.auth.audit import (
    GENESIS,
    AuditTampered,
    Checkpoint,
    VerifyResult,
    append,
    append_access,
    checkpoint,
    purge,
    retention_cutoff,
    search,
    verify,
)
from hygie.auth.balp import AccessRecord, build_events
from hygie.storage.database import Database, Session, open_database
from hygie.storage.migrations_auth import AUTH_MIGRATION

T = TypeVar("T")
KEY = b"k" * 32
T1 = 1_700_000_000_000  # first batch of entries
T2 = T1 + 86_400_000  # one day later
EVERY = 10
COLUMNS = "seq, recorded, patient, agent, body, prev_hash, hash"
INSERT_ROW = f"INSERT INTO audit_log ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    database.upgrade()
    database.run_sync(_ensure_auth_tables)  # until migrations.py registers AUTH_MIGRATION
    try:
        yield database
    finally:
        database.close()


def _ensure_auth_tables(s: Session) -> None:
    if s.dialect == "sqlite":
        present = s.one("SELECT count(*) FROM sqlite_master WHERE name = 'audit_log'")
        exists = bool(present and present[0])
    else:
        row = s.one("SELECT to_regclass('audit_log') IS NOT NULL")
        exists = bool(row and row[0])
    if not exists:
        for statement in AUTH_MIGRATION[s.dialect]:
            s.execute(statement)


def run(db: Database, work: Callable[[Session], T]) -> T:
    return db.run_sync(work)


def event(n: int, patient: str | None = "p1", agent: str = "Practitioner/dr") -> dict[str, Any]:
    record = AccessRecord(
        action="rest",
        interaction="read",
        time_ms=T1 + n,
        agent_ref=agent,
        client_ip="198.51.100.1",
        patients=(patient,) if patient else (),
        resources=(f"Observation/o{n}",),
        request_id=f"req-{n}",
    )
    [built] = build_events(record)
    return built


def fill(db: Database, count: int, *, now: int = T1, start: int = 0, patient: str | None = "p1") -> list[int]:
    events = [event(start + i, patient) for i in range(count)]
    return run(db, lambda s: append(s, events, now=now, key=KEY, every=EVERY))


def check(db: Database, *, batch: int = 4, key: bytes = KEY) -> VerifyResult:
    return db.run_sync(lambda s: verify(s, key, every=EVERY, batch=batch), write=False)


def rows(db: Database) -> list[tuple[Any, ...]]:
    return db.run_sync(
        lambda s: s.all(f"SELECT {COLUMNS} FROM audit_log ORDER BY seq"),
        write=False,
    )


def sql(db: Database, statement: str, params: tuple[Any, ...] = ()) -> None:
    run(db, lambda s: s.execute(statement, params))


def assert_broken(result: VerifyResult, seq: int, *words: str) -> None:
    assert not result.ok, result
    assert result.seq == seq, result
    for word in words:
        assert word in (result.reason or ""), result


# --- append and verify ------------------------------------------------------------------------------


def test_append_builds_a_hash_chain_and_verify_accepts_it(db: Database) -> None:
    assert fill(db, 25) == list(range(1, 26))
    stored = rows(db)
    assert [r[0] for r in stored] == list(range(1, 26))
    previous = GENESIS
    for seq, recorded, patient, agent, stored_body, prev_hash, digest in stored:
        body = bytes(stored_body)
        assert prev_hash == previous
        # hash = SHA-256(prev_hash || canonical JSON: sorted keys, no whitespace)
        assert digest == hashlib.sha256(previous.encode() + body).hexdigest()
        decoded = orjson.loads(body)
        assert body == orjson.dumps(decoded, option=orjson.OPT_SORT_KEYS)
        assert decoded["id"] == str(seq)  # the ledger numbers the events
        assert decoded["recorded"] == "2023-11-14T22:13:20.000Z"
        assert recorded == T1
        assert patient == "p1"
        assert agent == "Practitioner/dr"
        previous = digest
    result = check(db)
    assert result.ok, result
    assert (result.entries, result.checkpoints, result.anchor, result.last) == (25, 2, 0, 25)
    assert result.seq is None
    assert "25 entries" in str(result)


def test_appends_continue_the_chain_and_sign_every_n_entries(db: Database) -> None:
    fill(db, 7)
    assert fill(db, 7, start=7) == list(range(8, 15))
    assert run(db, lambda s: append(s, [], now=T1, key=KEY)) == []
    cps = db.run_sync(lambda s: s.all("SELECT seq, hash FROM audit_checkpoint ORDER BY seq"), write=False)
    assert [c[0] for c in cps] == [10]
    assert cps[0][1] == rows(db)[9][6]
    assert check(db, batch=3).ok


def test_one_call_appends_a_large_batch(db: Database) -> None:
    # PostgreSQL takes batches of 100 rows and more through COPY
    assert fill(db, 150) == list(range(1, 151))
    result = check(db, batch=1000)
    assert result.ok, result
    assert (result.entries, result.checkpoints) == (150, 15)


def test_events_without_patient_leave_the_patient_column_empty(db: Database) -> None:
    fill(db, 2, patient=None)
    assert [r[2] for r in rows(db)] == [None, None]
    assert check(db).ok


def test_empty_ledger_verifies(db: Database) -> None:
    result = check(db)
    assert result.ok
    assert (result.entries, result.last) == (0, 0)


def test_checkpoint_on_demand(db: Database) -> None:
    assert run(db, lambda s: checkpoint(s, KEY, T1)) is None  # nothing to sign yet
    fill(db, 13)
    made = run(db, lambda s: checkpoint(s, KEY, T2))
    assert isinstance(made, Checkpoint)
    assert (made.seq, made.hash, made.signed) == (13, rows(db)[12][6], T2)
    assert run(db, lambda s: checkpoint(s, KEY, T2 + 5)) == made  # already signed: unchanged
    result = check(db)
    assert result.ok
    assert result.checkpoints == 2


def test_short_keys_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="key"):
        run(db, lambda s: checkpoint(s, b"short", T1))


# --- tampering ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [4, 1000])
def test_a_modified_body_is_detected(db: Database, batch: int) -> None:
    fill(db, 25)
    body = orjson.loads(bytes(rows(db)[6][4]))
    body["agent"][0]["who"]["reference"] = "Practitioner/someone-else"
    sql(db, "UPDATE audit_log SET body = ? WHERE seq = 7", (orjson.dumps(body, option=orjson.OPT_SORT_KEYS),))
    assert_broken(check(db, batch=batch), 7, "modified")


def test_a_modified_hash_is_detected(db: Database) -> None:
    fill(db, 25)
    sql(db, "UPDATE audit_log SET hash = ? WHERE seq = 7", ("f" * 64,))
    assert_broken(check(db), 7)


def test_a_deleted_entry_is_detected(db: Database) -> None:
    fill(db, 25)
    sql(db, "DELETE FROM audit_log WHERE seq = 7")
    assert_broken(check(db), 7, "missing")


def test_the_first_entry_deleted_is_detected(db: Database) -> None:
    fill(db, 5)
    sql(db, "DELETE FROM audit_log WHERE seq = 1")
    assert_broken(check(db), 1, "missing")


def test_reordered_entries_are_detected(db: Database) -> None:
    fill(db, 25)
    sql(db, "UPDATE audit_log SET seq = -5 WHERE seq = 5")
    sql(db, "UPDATE audit_log SET seq = 5 WHERE seq = 9")
    sql(db, "UPDATE audit_log SET seq = 9 WHERE seq = -5")
    assert_broken(check(db), 5, "previous")


def test_a_hidden_patient_column_is_detected(db: Database) -> None:
    fill(db, 25)
    sql(db, "UPDATE audit_log SET patient = NULL WHERE seq = 12")
    assert_broken(check(db), 12, "patient")


def test_a_changed_agent_or_time_column_is_detected(db: Database) -> None:
    fill(db, 25)
    sql(db, "UPDATE audit_log SET agent = 'Practitioner/x' WHERE seq = 3")
    assert_broken(check(db), 3, "agent")
    sql(db, "UPDATE audit_log SET agent = 'Practitioner/dr' WHERE seq = 3")
    sql(db, "UPDATE audit_log SET recorded = 1 WHERE seq = 4")
    assert_broken(check(db), 4, "recorded")


def test_an_entry_inserted_before_the_chain_start_is_detected(db: Database) -> None:
    fill(db, 5)
    forged = orjson.dumps({"resourceType": "AuditEvent", "id": "0"}, option=orjson.OPT_SORT_KEYS)
    sql(
        db,
        INSERT_ROW,
        (
            0,
            T1,
            "p1",
            "Practitioner/dr",
            forged,
            GENESIS,
            hashlib.sha256(GENESIS.encode() + forged).hexdigest(),
        ),
    )
    assert_broken(check(db), 0, "before the first entry")


def test_entries_appended_without_the_key_are_caught_at_the_next_checkpoint_boundary(db: Database) -> None:
    fill(db, 8)
    # An attacker extends the chain with correct hashes but cannot sign checkpoint 10.
    run(db, lambda s: append(s, [event(100), event(101), event(102)], now=T1))
    assert_broken(check(db), 10, "checkpoint", "missing")


def test_a_truncated_tail_is_caught_by_the_checkpoint(db: Database) -> None:
    fill(db, 25)
    sql(db, "DELETE FROM audit_log WHERE seq > 15")  # the checkpoint at 20 remains
    assert_broken(check(db), 16, "missing", "20")


def _rewrite_from(db: Database, first: int, replace: bytes | None = None) -> None:
    """Change entry ``first`` and recompute every hash after it, as an attacker without the key."""

    def work(s: Session) -> None:
        stored = s.all("SELECT seq, body, prev_hash FROM audit_log WHERE seq >= ? ORDER BY seq", (first,))
        previous = str(stored[0][2])
        for seq, body, _ in stored:
            data = bytes(body)
            if seq == first and replace is not None:
                data = replace
            elif seq == first:
                decoded = orjson.loads(data)
                decoded["outcome"] = "4"
                data = orjson.dumps(decoded, option=orjson.OPT_SORT_KEYS)
            digest = hashlib.sha256(previous.encode() + data).hexdigest()
            s.execute(
                "UPDATE audit_log SET body = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (data, previous, digest, seq),
            )
            previous = digest

    run(db, work)


def test_a_chain_rewritten_from_an_entry_is_caught_by_the_next_checkpoint(db: Database) -> None:
    fill(db, 25)
    _rewrite_from(db, 13)
    assert_broken(check(db), 20, "checkpoint", "after entry 10")


@pytest.mark.parametrize("body", [b"[]", b"not json", b'{"resourceType":"Patient"}', b'{"entity":"x"}'])
def test_a_rewritten_entry_that_is_no_audit_event_is_reported_not_crashed_on(
    db: Database, body: bytes
) -> None:
    fill(db, 25)
    _rewrite_from(db, 13, replace=body)
    assert_broken(check(db), 13, "AuditEvent")


def test_a_forged_checkpoint_is_detected(db: Database) -> None:
    fill(db, 25)
    _rewrite_from(db, 13)
    new_hash = rows(db)[19][6]
    sql(db, "UPDATE audit_checkpoint SET hash = ? WHERE seq = 20", (new_hash,))
    assert_broken(check(db), 20, "signature")


def test_a_deleted_checkpoint_is_detected(db: Database) -> None:
    fill(db, 25)
    _rewrite_from(db, 13)
    sql(db, "DELETE FROM audit_checkpoint WHERE seq = 20")
    assert_broken(check(db), 20, "checkpoint", "missing")


def test_the_wrong_key_fails_on_the_first_checkpoint(db: Database) -> None:
    fill(db, 25)
    assert_broken(check(db, key=b"x" * 32), 10, "signature")


# --- retention ------------------------------------------------------------------------------------------


def test_purge_keeps_the_chain_verifiable(db: Database) -> None:
    fill(db, 12, now=T1)
    fill(db, 13, now=T2, start=12)
    done = run(db, lambda s: purge(s, T2, KEY, T2 + 1))
    assert (done.deleted, done.anchor) == (12, 12)
    assert [r[0] for r in rows(db)] == list(range(13, 26))
    result = check(db)
    assert result.ok, result
    assert (result.anchor, result.entries, result.last) == (12, 13, 25)
    # Old checkpoints went with their entries; later ones stay.
    cps = db.run_sync(lambda s: s.all("SELECT seq FROM audit_checkpoint WHERE seq > 0"), write=False)
    assert [c[0] for c in cps] == [20]
    # Nothing more to purge at the same cut-off; the chain goes on after the anchor.
    assert run(db, lambda s: purge(s, T2, KEY, T2 + 2)).deleted == 0
    fill(db, 3, now=T2 + 3, start=25)
    assert check(db).ok


def test_purging_everything_then_appending_continues_from_the_anchor(db: Database) -> None:
    fill(db, 12, now=T1)
    assert run(db, lambda s: purge(s, T2, KEY, T2)).deleted == 12
    assert rows(db) == []
    assert check(db).ok
    assert fill(db, 2, now=T2, start=12) == [13, 14]
    assert (
        rows(db)[0][5]
        == db.run_sync(lambda s: s.one("SELECT hash FROM audit_checkpoint WHERE seq = -12"), write=False)[0]
    )
    result = check(db)
    assert result.ok, result
    assert (result.anchor, result.entries) == (12, 2)


def test_a_second_purge_replaces_the_anchor(db: Database) -> None:
    fill(db, 5, now=T1)
    fill(db, 5, now=T2, start=5)
    fill(db, 5, now=T2 + 10, start=10)
    run(db, lambda s: purge(s, T2, KEY, T2))
    run(db, lambda s: purge(s, T2 + 10, KEY, T2 + 10))
    anchors = db.run_sync(lambda s: s.all("SELECT seq FROM audit_checkpoint WHERE seq < 0"), write=False)
    assert [a[0] for a in anchors] == [-10]
    result = check(db)
    assert result.ok, result
    assert result.anchor == 10


def test_an_entry_reinserted_before_the_anchor_is_detected(db: Database) -> None:
    fill(db, 12, now=T1)
    fill(db, 3, now=T2, start=12)
    old = rows(db)[3]
    run(db, lambda s: purge(s, T2, KEY, T2))
    sql(
        db,
        INSERT_ROW,
        old,
    )
    assert_broken(check(db), 4, "anchor")


def test_a_deleted_anchor_is_detected(db: Database) -> None:
    fill(db, 12, now=T1)
    fill(db, 3, now=T2, start=12)
    run(db, lambda s: purge(s, T2, KEY, T2))
    sql(db, "DELETE FROM audit_checkpoint WHERE seq < 0")
    assert_broken(check(db), 1, "missing")


def test_a_forged_anchor_is_detected(db: Database) -> None:
    fill(db, 12, now=T1)
    fill(db, 3, now=T2, start=12)
    run(db, lambda s: purge(s, T2, KEY, T2))
    sql(db, "UPDATE audit_checkpoint SET signed = signed + 1 WHERE seq < 0")
    assert_broken(check(db), 12, "anchor", "signature")


def test_purge_refuses_to_launder_a_tampered_segment(db: Database) -> None:
    fill(db, 12, now=T1)
    fill(db, 3, now=T2, start=12)
    sql(db, "DELETE FROM audit_log WHERE seq = 4")
    with pytest.raises(AuditTampered) as caught:
        run(db, lambda s: purge(s, T2, KEY, T2))
    assert caught.value.result.seq == 4
    assert "4" in str(caught.value)
    assert len(rows(db)) == 14  # nothing deleted


def test_retention_cutoff_goes_back_calendar_months() -> None:
    # 2024-03-31T12:00:00Z -> 2023-03-31T12:00:00Z; 2024-02-29 -> 2023-02-28 (no 29th)
    assert retention_cutoff(1_711_886_400_000, months=12) == 1_680_264_000_000
    assert retention_cutoff(1_709_208_000_000, months=12) == 1_677_585_600_000
    assert retention_cutoff(1_711_886_400_000, months=1) == 1_709_208_000_000  # 31 March -> 29 Feb


def test_append_access_builds_one_event_per_patient(db: Database) -> None:
    record = AccessRecord(
        action="rest",
        interaction="search-type",
        time_ms=T1,
        agent_ref="Practitioner/dr",
        query="Observation?code=x",
        patient_resources={"p1": ("Observation/1",), "p2": ("Observation/2",), "p3": ("Observation/3",)},
    )
    assert run(db, lambda s: append_access(s, record, now=T1, key=KEY)) == [1, 2, 3]
    assert [r[2] for r in rows(db)] == ["p1", "p2", "p3"]
    assert check(db).ok


# --- "who accessed my record" --------------------------------------------------------------------------


def test_search_returns_a_patients_events_newest_first(db: Database) -> None:
    events = [event(i, "p1" if i % 2 else "p2", agent=f"Practitioner/d{i}") for i in range(10)]
    run(db, lambda s: append(s, events[:5], now=T1, key=KEY))
    run(db, lambda s: append(s, events[5:], now=T2, key=KEY))
    found = db.run_sync(lambda s: search(s, "p1"), write=False)
    assert [e["id"] for e in found] == ["10", "8", "6", "4", "2"]
    assert [e["agent"][0]["who"]["reference"] for e in found][:2] == ["Practitioner/d9", "Practitioner/d7"]
    assert all(e["resourceType"] == "AuditEvent" for e in found)
    page = db.run_sync(lambda s: search(s, "p1", limit=2, after_seq=8), write=False)
    assert [e["id"] for e in page] == ["6", "4"]
    recent = db.run_sync(lambda s: search(s, "p1", since=T2), write=False)
    assert [e["id"] for e in recent] == ["10", "8", "6"]
    assert db.run_sync(lambda s: search(s, "nobody"), write=False) == []
    with pytest.raises(ValueError, match="limit"):
        db.run_sync(lambda s: search(s, "p1", limit=0), write=False)


# --- concurrency -----------------------------------------------------------------------------------------


def test_concurrent_appends_keep_one_continuous_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(200):
                one = [event(offset + i, f"p{i % 3}")]
                db.run_sync(lambda s, one=one, i=i: append(s, one, now=T1 + i, key=KEY, every=EVERY))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r[0] for r in rows(db)] == list(range(1, 401))
    result = check(db, batch=64)
    assert result.ok, result
    assert (result.entries, result.checkpoints) == (400, 40)
