"""``hygie cds build-knowledge [DATA_DIR] [--out FILE]`` — rebuild the medication-safety knowledge.

Reads the BDPM and ANSM thesaurus files of ``DATA_DIR`` (default: ``../shared/data`` beside the
project), writes the compact knowledge base (default: the package's ``hygie/cds/data/
knowledge.json.gz``) and prints the editions, the reconciliation counts and the mapping coverage
(docs/medication-safety.md). The same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import typer

from hygie.cds import build

DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
cds_cli = typer.Typer(help="Medication safety (clinical decision support).", no_args_is_help=True)


@cds_cli.command("build-knowledge")
def build_knowledge(
    data: Path = typer.Argument(DEFAULT_DATA, help="The shared data folder (bdpm/, ansm-thesaurus/)."),  # noqa: B008
    out: Path = typer.Option(build.OUTPUT, "--out", help="Where to write knowledge.json.gz."),  # noqa: B008
) -> None:
    """Build the knowledge base from the BDPM and the ANSM thesaurus; print what went in."""
    missing = [str(p) for p, _ in build.Inputs(data).files() if not p.is_file()]
    if missing:
        typer.echo(f"error: missing input files: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    knowledge = build.build(data)
    size = build.write(knowledge, out)
    counts = knowledge["reconciliation"]["counts"]
    coverage = knowledge["coverage"]
    typer.echo(f"wrote {out} ({size:,} bytes)")
    editions = knowledge["editions"]
    typer.echo(f"editions: {editions['bdpm']}; thesaurus {', '.join(editions['thesaurus'])}")
    typer.echo(
        f"products {len(knowledge['products']):,}, packs {len(knowledge['packs']):,}, "
        f"substances {len(knowledge['substances']):,}, interactions {counts['interactions']:,} "
        f"(CI {counts['interactions_CI']}, AD {counts['interactions_AD']}, PE {counts['interactions_PE']}, "
        f"APEC {counts['interactions_APEC']})"
    )
    typer.echo(f"reconciliation: {counts}")
    typer.echo(
        f"mapping coverage: {coverage['resolved']:,}/{coverage['products']:,} marketed products "
        f"resolved ({coverage['share_resolved']:.2%}); all substances in the thesaurus: "
        f"{coverage['all_in_thesaurus']:,} ({coverage['share_all_in_thesaurus']:.2%}); "
        f"near misses to review: {len(coverage['near_misses'])}"
    )
