"""Schema migrations for both backends.

Each migration is a list of statements per dialect, applied in order inside a transaction and
recorded in ``schema_version``. Append new migrations; never edit an applied one.

Layout (both dialects, see docs/architecture.md):
- ``resource``: one row per logical resource (current version pointer), integer key ``rk``;
- ``resource_version``: every version ever written (zlib-compressed JSON body), global ``seq``
  ordering for system history;
- ``search_param``: (type, code) → small integer ``pid`` used by index rows;
- ``idx_*``: search index rows of current, non-deleted versions, built by
  :mod:`hygie.search.extract` (shared code) and keyed by ``rk``.
"""

from __future__ import annotations

from typing import Literal

from hygie.storage.migrations_auth import AUTH_MIGRATION
from hygie.storage.migrations_bulk import BULK_LEASE_MIGRATION, BULK_MIGRATION
from hygie.storage.migrations_cds import CDS_MIGRATION
from hygie.storage.migrations_imports import IMPORTS_MIGRATION
from hygie.storage.migrations_oauth import OAUTH_NONCE_MIGRATION
from hygie.storage.migrations_profile import PROFILE_MIGRATION
from hygie.storage.migrations_samples import SAMPLES_MIGRATION
from hygie.storage.migrations_subscriptions import SUBSCRIPTIONS_MIGRATION

Dialect = Literal["sqlite", "postgresql"]

_SQLITE_1 = [
    """CREATE TABLE resource (
        rk INTEGER PRIMARY KEY,
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        vid INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        last_updated INTEGER NOT NULL,
        UNIQUE (type, id)
    )""",
    """CREATE TABLE resource_version (
        seq INTEGER PRIMARY KEY,
        rk INTEGER NOT NULL,
        vid INTEGER NOT NULL,
        method TEXT NOT NULL,
        last_updated INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        body BLOB NOT NULL,
        UNIQUE (rk, vid)
    )""",
    "CREATE INDEX resource_version_time ON resource_version (last_updated)",
    """CREATE TABLE search_param (
        pid INTEGER PRIMARY KEY, type TEXT NOT NULL, code TEXT NOT NULL, UNIQUE (type, code))""",
    """CREATE TABLE idx_token (rk INTEGER NOT NULL, pid INTEGER NOT NULL, system TEXT NOT NULL,
        code TEXT NOT NULL, PRIMARY KEY (rk, pid, system, code)) WITHOUT ROWID""",
    "CREATE INDEX idx_token_s ON idx_token (pid, code, system)",
    """CREATE TABLE idx_token_text (rk INTEGER NOT NULL, pid INTEGER NOT NULL, folded TEXT NOT NULL,
        PRIMARY KEY (rk, pid, folded)) WITHOUT ROWID""",
    "CREATE INDEX idx_token_text_s ON idx_token_text (pid, folded)",
    """CREATE TABLE idx_string (rk INTEGER NOT NULL, pid INTEGER NOT NULL, folded TEXT NOT NULL,
        exact TEXT NOT NULL, PRIMARY KEY (rk, pid, exact)) WITHOUT ROWID""",
    "CREATE INDEX idx_string_s ON idx_string (pid, folded)",
    """CREATE TABLE idx_reference (rk INTEGER NOT NULL, pid INTEGER NOT NULL,
        target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL,
        PRIMARY KEY (rk, pid, url)) WITHOUT ROWID""",
    "CREATE INDEX idx_reference_s ON idx_reference (pid, target_id, target_type)",
    "CREATE INDEX idx_reference_t ON idx_reference (target_id, target_type)",
    """CREATE TABLE idx_date (rk INTEGER NOT NULL, pid INTEGER NOT NULL, low INTEGER NOT NULL,
        high INTEGER NOT NULL, PRIMARY KEY (rk, pid, low, high)) WITHOUT ROWID""",
    "CREATE INDEX idx_date_s ON idx_date (pid, low, high)",
    """CREATE TABLE idx_number (rk INTEGER NOT NULL, pid INTEGER NOT NULL, value REAL NOT NULL,
        low REAL NOT NULL, high REAL NOT NULL, PRIMARY KEY (rk, pid, value, low, high)) WITHOUT ROWID""",
    "CREATE INDEX idx_number_s ON idx_number (pid, value)",
    """CREATE TABLE idx_quantity (rk INTEGER NOT NULL, pid INTEGER NOT NULL, system TEXT NOT NULL,
        code TEXT NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
        PRIMARY KEY (rk, pid, system, code, value, low, high)) WITHOUT ROWID""",
    "CREATE INDEX idx_quantity_s ON idx_quantity (pid, code, value)",
    """CREATE TABLE idx_uri (rk INTEGER NOT NULL, pid INTEGER NOT NULL, uri TEXT NOT NULL,
        PRIMARY KEY (rk, pid, uri)) WITHOUT ROWID""",
    "CREATE INDEX idx_uri_s ON idx_uri (pid, uri)",
]

_PG_1 = [
    """CREATE TABLE resource (
        rk BIGSERIAL PRIMARY KEY,
        type TEXT NOT NULL,
        id TEXT NOT NULL,
        vid INTEGER NOT NULL,
        deleted BOOLEAN NOT NULL,
        last_updated BIGINT NOT NULL,
        UNIQUE (type, id)
    )""",
    """CREATE TABLE resource_version (
        seq BIGSERIAL PRIMARY KEY,
        rk BIGINT NOT NULL,
        vid INTEGER NOT NULL,
        method TEXT NOT NULL,
        last_updated BIGINT NOT NULL,
        deleted BOOLEAN NOT NULL,
        body BYTEA NOT NULL,
        UNIQUE (rk, vid)
    )""",
    "ALTER TABLE resource_version ALTER COLUMN body SET STORAGE EXTERNAL",
    "CREATE INDEX resource_version_time ON resource_version (last_updated)",
    """CREATE TABLE search_param (
        pid SERIAL PRIMARY KEY, type TEXT NOT NULL, code TEXT NOT NULL, UNIQUE (type, code))""",
    """CREATE TABLE idx_token (rk BIGINT NOT NULL, pid INTEGER NOT NULL, system TEXT NOT NULL,
        code TEXT NOT NULL)""",
    "CREATE INDEX idx_token_rk ON idx_token (rk)",
    "CREATE INDEX idx_token_s ON idx_token (pid, code, system)",
    """CREATE TABLE idx_token_text (rk BIGINT NOT NULL, pid INTEGER NOT NULL, folded TEXT NOT NULL)""",
    "CREATE INDEX idx_token_text_rk ON idx_token_text (rk)",
    "CREATE INDEX idx_token_text_s ON idx_token_text (pid, folded text_pattern_ops)",
    """CREATE TABLE idx_string (rk BIGINT NOT NULL, pid INTEGER NOT NULL, folded TEXT NOT NULL,
        exact TEXT NOT NULL)""",
    "CREATE INDEX idx_string_rk ON idx_string (rk)",
    "CREATE INDEX idx_string_s ON idx_string (pid, folded text_pattern_ops)",
    """CREATE TABLE idx_reference (rk BIGINT NOT NULL, pid INTEGER NOT NULL,
        target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL)""",
    "CREATE INDEX idx_reference_rk ON idx_reference (rk)",
    "CREATE INDEX idx_reference_s ON idx_reference (pid, target_id, target_type)",
    "CREATE INDEX idx_reference_t ON idx_reference (target_id, target_type)",
    """CREATE TABLE idx_date (rk BIGINT NOT NULL, pid INTEGER NOT NULL, low BIGINT NOT NULL,
        high BIGINT NOT NULL)""",
    "CREATE INDEX idx_date_rk ON idx_date (rk)",
    "CREATE INDEX idx_date_s ON idx_date (pid, low, high)",
    """CREATE TABLE idx_number (rk BIGINT NOT NULL, pid INTEGER NOT NULL,
        value DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX idx_number_rk ON idx_number (rk)",
    "CREATE INDEX idx_number_s ON idx_number (pid, value)",
    """CREATE TABLE idx_quantity (rk BIGINT NOT NULL, pid INTEGER NOT NULL, system TEXT NOT NULL,
        code TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, low DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX idx_quantity_rk ON idx_quantity (rk)",
    "CREATE INDEX idx_quantity_s ON idx_quantity (pid, code, value)",
    """CREATE TABLE idx_uri (rk BIGINT NOT NULL, pid INTEGER NOT NULL, uri TEXT NOT NULL)""",
    "CREATE INDEX idx_uri_rk ON idx_uri (rk)",
    "CREATE INDEX idx_uri_s ON idx_uri (pid, uri)",
]

# -- migration 2: composite search parameters ------------------------------------------------------
# One row per element and combination of component values (hygie/search/composite.py); each of the
# three component slots maps its type's columns onto (system, code, text, value, low, high).
_COMPOSITE_SLOTS = ", ".join(
    f"c{i}_system TEXT, c{i}_code TEXT, c{i}_text TEXT, c{i}_value {{real}}, c{i}_low {{real}}, "
    f"c{i}_high {{real}}"
    for i in (1, 2, 3)
)
_M2_COMPOSITE: dict[Dialect, list[str]] = {
    "sqlite": [
        "CREATE TABLE idx_composite (rk INTEGER NOT NULL, pid INTEGER NOT NULL, "
        + _COMPOSITE_SLOTS.format(real="REAL")
        + ")",
        "CREATE INDEX idx_composite_rk ON idx_composite (rk)",
        "CREATE INDEX idx_composite_s ON idx_composite (pid, c1_code, c1_system, c2_value)",
    ],
    "postgresql": [
        "CREATE TABLE idx_composite (rk BIGINT NOT NULL, pid INTEGER NOT NULL, "
        + _COMPOSITE_SLOTS.format(real="DOUBLE PRECISION")
        + ")",
        "CREATE INDEX idx_composite_rk ON idx_composite (rk)",
        "CREATE INDEX idx_composite_s ON idx_composite (pid, c1_code, c1_system, c2_value)",
    ],
}

# -- migration 3: full-text search _text / _content ------------------------------------------------
# https://hl7.org/fhir/R4/search.html#text — one row per resource with text (see
# hygie/search/fulltext.py). The same query text, ``SELECT rowid FROM fulltext(?)``, runs on both:
# SQLite calls the FTS5 table (columns ``narrative`` and ``content``, holding Snowball French stems
# computed in Python) as a table-valued function; PostgreSQL calls an inlinable SQL function over
# ``fulltext_doc``, whose ``tsvector`` is built with the ``french`` configuration, narrative
# lexemes weighted A (``_text`` restricts the query to weight A).
_M3_FULLTEXT: dict[Dialect, list[str]] = {
    "sqlite": [
        """CREATE VIRTUAL TABLE fulltext USING fts5(narrative, content,
            tokenize = 'unicode61 remove_diacritics 0', columnsize = 0)""",
        # merge segments less eagerly than the default (4): each single-resource commit creates
        # a segment, and eager merging doubled the cost of small writes (bench crud)
        "INSERT INTO fulltext (fulltext, rank) VALUES ('automerge', 16)",
    ],
    "postgresql": [
        "CREATE TABLE fulltext_doc (rk BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL)",
        "CREATE INDEX fulltext_doc_gin ON fulltext_doc USING gin (doc)",
        """CREATE FUNCTION fulltext(q TEXT) RETURNS TABLE (rowid BIGINT)
            LANGUAGE sql STABLE PARALLEL SAFE
            AS $$ SELECT rk FROM fulltext_doc WHERE doc @@ to_tsquery('french'::regconfig, q) $$""",
    ],
}

# -- migration 4: compact reference rows -------------------------------------------------------
# ``url`` is '' when the reference is exactly ``Type/id`` (it is stored in the key and both
# indexes: ~0.3 KB per resource); the SQLite key gains the target so two references of one
# parameter can both have an empty url.
_M4_REFERENCE: dict[Dialect, list[str]] = {
    "sqlite": [
        """CREATE TABLE idx_reference_new (rk INTEGER NOT NULL, pid INTEGER NOT NULL,
            target_type TEXT NOT NULL, target_id TEXT NOT NULL, url TEXT NOT NULL,
            PRIMARY KEY (rk, pid, target_type, target_id, url)) WITHOUT ROWID""",
        """INSERT INTO idx_reference_new SELECT rk, pid, target_type, target_id,
            CASE WHEN url = target_type || '/' || target_id THEN '' ELSE url END FROM idx_reference""",
        "DROP TABLE idx_reference",
        "ALTER TABLE idx_reference_new RENAME TO idx_reference",
        "CREATE INDEX idx_reference_s ON idx_reference (pid, target_id, target_type)",
        "CREATE INDEX idx_reference_t ON idx_reference (target_id, target_type)",
    ],
    "postgresql": [
        "UPDATE idx_reference SET url = '' WHERE url = target_type || '/' || target_id",
    ],
}

# -- migration 5: date ranges searchable from their end -------------------------------------------
# gt/ge/le/eb test the end of the range (``high``): with this index each side of their conditions
# is an index range scan instead of a scan of every date row of the parameter.
_M5_DATE_HIGH: dict[Dialect, list[str]] = {
    "sqlite": ["CREATE INDEX idx_date_h ON idx_date (pid, high)"],
    "postgresql": ["CREATE INDEX idx_date_h ON idx_date (pid, high)"],
}

# -- migration 6: query plans that scale (tests/integration/test_query_plans.py) -------------------
# - ``idx_quantity (pid, value)``: a quantity criterion without a unit (``value-quantity=gt100``)
#   is a range scan of its parameter's rows instead of a walk through every row of the parameter
#   (the ``(pid, code, value)`` index cannot range on ``value`` without a ``code``).
# - PostgreSQL ``resource (type, deleted, rk)``: the matches of a type are an index-only range, in
#   key order; without it, a count or a page over many matches scans the whole ``resource`` heap
#   (SQLite's ``rk`` is the rowid and its tables are clustered: it needs no such index).
# - PostgreSQL extended statistics on ``idx_token (pid, system, code)``: a code is frequent for
#   one parameter only (``vital-signs`` for Observation.category); assumed independent, the
#   planner underestimated such criteria by 10-20x and probed ``resource`` once per match.
_M6_SCALE: dict[Dialect, list[str]] = {
    "sqlite": ["CREATE INDEX idx_quantity_v ON idx_quantity (pid, value)"],
    "postgresql": [
        "CREATE INDEX idx_quantity_v ON idx_quantity (pid, value)",
        "CREATE INDEX resource_live ON resource (type, deleted, rk)",
        "CREATE STATISTICS idx_token_codes (mcv) ON pid, system, code FROM idx_token",
    ],
}

# -- migration 16: no index rows for _lastUpdated -------------------------------------------------
# ``_lastUpdated`` is searched and sorted on ``resource.last_updated`` (like ``_id`` on
# ``resource.id``); the date rows extraction wrote for it were never read: one row of fourteen
# an imported resource, a parse of each stamped instant. Extraction no longer writes them
# (hygie/search/extract.py); this drops those of older databases.
_LAST_UPDATED_ROWS = (
    "DELETE FROM idx_date WHERE pid IN (SELECT pid FROM search_param WHERE code = '_lastUpdated')"
)
_M16_LAST_UPDATED: dict[Dialect, list[str]] = {
    "sqlite": [_LAST_UPDATED_ROWS],
    "postgresql": [_LAST_UPDATED_ROWS],
}

MIGRATIONS: list[dict[Dialect, list[str]]] = [
    {"sqlite": _SQLITE_1, "postgresql": _PG_1},
    _M2_COMPOSITE,
    _M3_FULLTEXT,
    _M4_REFERENCE,
    _M5_DATE_HIGH,
    _M6_SCALE,
    AUTH_MIGRATION,  # 7: accounts, OAuth2/SMART, grants, audit ledger (migrations_auth.py)
    OAUTH_NONCE_MIGRATION,  # 8: oauth_code.nonce (migrations_oauth.py)
    BULK_MIGRATION,  # 9: Bulk Data jobs (migrations_bulk.py)
    SUBSCRIPTIONS_MIGRATION,  # 10: Subscription delivery state (migrations_subscriptions.py)
    SAMPLES_MIGRATION,  # 11: device samples and hourly aggregates (migrations_samples.py)
    CDS_MIGRATION,  # 12: CDS Hooks clients, JWT ids, cards and feedback (migrations_cds.py)
    IMPORTS_MIGRATION,  # 13: files loaded by hygie import, in their own transaction (migrations_imports.py)
    PROFILE_MIGRATION,  # 14: the record a web session shows (migrations_profile.py)
    BULK_LEASE_MIGRATION,  # 15: Bulk Data jobs' runner and lease (migrations_bulk.py)
    _M16_LAST_UPDATED,
]

INDEX_TABLES = (
    "token",
    "token_text",
    "string",
    "reference",
    "date",
    "number",
    "quantity",
    "uri",
    "composite",
)
