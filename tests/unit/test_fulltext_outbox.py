"""Asynchronous full-text indexing from the version log (both backends).

Spec: https://hl7.org/fhir/R4/search.html#text — ``_text``/``_content`` results must reflect every
committed write although the index is built after the write (hygie/storage/fulltext_index.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hygie.search import fulltext
from hygie.storage import fulltext_index
from hygie.storage.database import Database, Session, open_database
from hygie.storage.store import Store

FIND = "SELECT f.rowid FROM (" + fulltext.SQL + ") AS f ORDER BY 1"


def _condition(note: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}, "note": [{"text": note}]}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    database.upgrade()
    try:
        yield database
    finally:
        database.close()


def _find(store: Store, words: str) -> list[int]:
    return [r[0] for r in store.select(FIND, (fulltext.parse("content", [words]),))]


def _index_rows(s: Session) -> int:
    table = "fulltext" if s.dialect == "sqlite" else "fulltext_doc"
    row = s.one(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


def test_writes_leave_the_index_behind_and_a_search_catches_up(db: Database) -> None:
    def work(s: Session) -> tuple[tuple[int, int], list[int], tuple[int, int], int]:
        store = Store(s, {})
        first = store.create("Condition", _condition("Hypertension artérielle"))
        store.create("Condition", _condition("Diabète"))
        store.flush()
        behind = fulltext_index.pending(s)  # the write did no full-text work
        found = _find(store, "arterielle")  # the search catches up first
        return behind, found, fulltext_index.pending(s), first.rk

    behind, found, after, rk = db.run_sync(work)
    assert behind[0] < behind[1]
    assert found == [rk]
    assert after[0] == after[1]


def test_updates_and_deletes_are_reflected(db: Database) -> None:
    created = db.run_sync(lambda s: Store(s, {}).create("Condition", _condition("fièvre")))

    def update(s: Session) -> list[int]:
        store = Store(s, {})
        current = store.read("Condition", created.id)
        assert current is not None
        store.update(current, _condition("urticaire"))
        return _find(store, "fievre") + _find(store, "urticaire")

    assert db.run_sync(update) == [created.rk]  # only the new text is found

    def delete(s: Session) -> list[int]:
        store = Store(s, {})
        current = store.read("Condition", created.id)
        assert current is not None
        store.delete(current)
        return _find(store, "urticaire")

    assert db.run_sync(delete) == []
    assert db.run_sync(_index_rows) == 0  # the deleted resource's row is gone


def test_catch_up_twice_and_after_a_crash_is_harmless(db: Database) -> None:
    def work(s: Session) -> tuple[int, int, int, list[int], list[int]]:
        store = Store(s, {})
        rks = [store.create("Condition", _condition(f"douleur thoracique {i}")).rk for i in range(5)]
        store.create("Condition", {"resourceType": "Condition", "subject": {"reference": "Patient/p1"}})
        store.flush()
        done = fulltext_index.catch_up(s, s.dialect, limit=2)  # several batches
        again = fulltext_index.catch_up(s, s.dialect)
        # a crash after the rows were written, before last_seq moved: the range is done again
        s.execute("UPDATE fulltext_state SET last_seq = 0 WHERE id = 1")
        redone = fulltext_index.catch_up(s, s.dialect)
        return done, again, redone, _find(store, "douleurs"), rks

    done, again, redone, found, rks = db.run_sync(work)
    assert (done, again, redone) == (6, 0, 6)
    assert found == rks
    assert db.run_sync(_index_rows) == 5  # one row each, no duplicate; none for the text-less one


def test_background_thread_catches_up(db: Database) -> None:
    rk = db.run_sync(lambda s: Store(s, {}).create("Condition", _condition("insuffisance rénale")).rk)
    deadline = time.monotonic() + 20
    state = db.run_sync(fulltext_index.pending, write=False)
    while state[0] < state[1] and time.monotonic() < deadline:
        time.sleep(0.1)
        state = db.run_sync(fulltext_index.pending, write=False)
    assert state[0] == state[1] >= 1
    table, key = ("fulltext", "rowid") if db.dialect == "sqlite" else ("fulltext_doc", "rk")
    rows = db.run_sync(lambda s: s.all(f"SELECT {key} FROM {table}"), write=False)
    assert [r[0] for r in rows] == [rk]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgres_never_skips_a_version_committed_late(db: Database, database_url: str) -> None:
    """A seq drawn before another but committed after it is still indexed (PostgreSQL only:
    SQLite has one writer at a time, so seq order is commit order)."""
    start = db.run_sync(fulltext_index.pending, write=False)[0]
    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        slow = Store(Session(conn, "postgresql"), {})
        late = slow.create("Condition", _condition("fièvre tardive"))
        slow.flush()  # its seq is drawn, not committed
        early = db.run_sync(lambda s: Store(s, {}).create("Condition", _condition("fièvre précoce")))
        background = db.run_sync(
            lambda s: fulltext_index.catch_up(s, s.dialect, background=True), write=False
        )
        assert background == 0  # it may not move past the open transaction's seq
        assert db.run_sync(fulltext_index.pending, write=False)[0] == start
    found = db.run_sync(lambda s: _find(Store(s, {}), "fievre"), write=False)
    assert found == sorted([late.rk, early.rk])
