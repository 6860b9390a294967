"""``python -m hygie`` runs the CLI."""

from hygie.cli import main

main()
