"""Markdown blocks of docs/medication-safety.md computed from the shipped knowledge base.

tests/cds/test_docs_figures.py keeps the document equal to these blocks (between
``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers), so the figures cannot drift.
"""

from __future__ import annotations

from typing import Any

RECONCILIATION_ROWS = [
    ("2023_rows", "rows of the 2023 CSV (both directions of each pair)"),
    ("2023_context_headers", "2023 rows whose level list was read back from a 'CI - ASDEC - APEC' header"),
    ("2023_spilled_headings", "2023 rows whose text carried the next section's heading (cut)"),
    ("2023_reassigned_rows", "2023 rows given back to the entry whose heading had spilled"),
    ("2023_names_aliased", "2023 rows naming a truncated entity (aliased to its full name)"),
    ("2020_directed_pairs", "directed pairs of the 2020 JSON"),
    ("2020_duplicate_rows", "duplicate rows of the 2020 JSON (the most severe kept)"),
    ("directed_in_both", "directed pairs in both editions (2023 taken)"),
    ("directed_only_2023", "directed pairs only in 2023"),
    ("directed_level_changed", "directed pairs whose single level changed (2023 taken, 2020 level noted)"),
    ("directed_contexts_from_2020", "context-dependent 2023 pairs given the 2020 per-level conditions"),
    ("directed_contexts_2023_text", "context-dependent 2023 pairs split from the 2023 text"),
    (
        "directed_superseded_by_rename",
        "2020-only directed pairs superseded by a renamed 2023 entity (listed)",
    ),
    ("directed_2020_reverse_in_2023", "2020-only directed pairs present in 2023 in the other direction"),
    ("directed_kept_2020_only", "2020-only directed pairs kept (edition 'janvier 2020')"),
    ("directions_merged", "directions merged into unordered pairs"),
    ("directions_disagreeing", "unordered pairs whose two directions disagreed (most severe kept)"),
    ("interactions", "reconciled unordered pairs shipped"),
    ("interactions_CI", "… contre-indications"),
    ("interactions_AD", "… associations déconseillées"),
    ("interactions_PE", "… précautions d'emploi"),
    ("interactions_APEC", "… à prendre en compte"),
    ("interactions_with_contexts", "… whose level depends on the context"),
]


def reconciliation(knowledge: dict[str, Any]) -> str:
    counts = knowledge["reconciliation"]["counts"]
    lines = ["| count | what |", "|---:|---|"]
    lines += [f"| {counts.get(key, 0):,} | {text} |" for key, text in RECONCILIATION_ROWS]
    return "\n".join(lines)


def coverage(knowledge: dict[str, Any]) -> str:
    cov = knowledge["coverage"]
    return "\n".join(
        [
            f"Scope: {cov['scope']} — {cov['products']:,} products.",
            "",
            "| measure | products | share |",
            "|---|---:|---:|",
            f"| every substance resolved (matched to the thesaurus, or known to be absent from it) | "
            f"{cov['resolved']:,} | {cov['share_resolved']:.2%} |",
            f"| every substance matched to a thesaurus substance or class | {cov['all_in_thesaurus']:,} | "
            f"{cov['share_all_in_thesaurus']:.2%} |",
            f"| at least one substance matched to the thesaurus | {cov['at_least_one_in_thesaurus']:,} | "
            f"{cov['at_least_one_in_thesaurus'] / cov['products']:.2%} |",
            "",
            f"Near misses left to review: {len(cov['near_misses'])}.",
        ]
    )


def block(document: str, name: str) -> str:
    """The text between the markers of ``name`` in ``document``."""
    start, end = f"<!-- {name}:start -->\n", f"\n<!-- {name}:end -->"
    return document.split(start, 1)[1].split(end, 1)[0]
