"""The French stemmer of SQLite full-text search (hygie/search/fulltext.py): PyStemmer, the
Snowball project's binding of its C libstemmer, must stem exactly as the project's pure-Python
stemmer did when it was Hygie's (databases indexed then stay searchable without a reindex)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from snowballstemmer.french_stemmer import FrenchStemmer  # type: ignore[import-untyped]

from hygie.search import fulltext

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _vocabulary() -> list[str]:
    """Folded words (what fulltext stems) of the Synthea bundles and the BDPM texts."""
    found: set[str] = set()
    for path in sorted((DATA / "synthea-r4").glob("*.json"))[:20]:
        found.update(w for w in fulltext.words(path.read_text("utf-8")) if not w.isdigit())
    for path in sorted((DATA / "bdpm" / "2026").glob("*.txt")):  # French drug names and substances
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        found.update(w for w in fulltext.words(text) if not w.isdigit())
    return sorted(found)


def test_libstemmer_stems_like_the_pure_python_snowball_stemmer() -> None:
    vocabulary = _vocabulary()
    assert len(vocabulary) > 20_000  # the corpus is there: a real comparison
    reference = FrenchStemmer()
    differ = [w for w in vocabulary if fulltext.stem(w) != reference.stemWord(w)]
    assert differ == []


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("hypertension", "hypertens"),
        ("diabetique", "diabet"),
        ("diabetiques", "diabet"),
        ("cardiaque", "cardiaqu"),
        ("cardiaques", "cardiaqu"),
        ("insuffisance", "insuffis"),
        ("medicaments", "medic"),
        ("a", "a"),
        ("", ""),
    ],
)
def test_french_stems(word: str, expected: str) -> None:
    assert fulltext.stem(word) == expected


def test_each_thread_stems_with_its_own_stemmer() -> None:
    words = [f"consultation{n}s" for n in range(2000)]
    expected = [FrenchStemmer().stemWord(w) for w in words]
    results: list[list[str]] = []

    def work() -> None:
        results.append([fulltext._STEMMERS.french.stemWord(w) for w in words])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
