#!/usr/bin/env python3
"""Compile the project's translations (locale/*/LC_MESSAGES/*.po → .mo).

Pure Python (polib), so that a fresh machine with only python3 needs no GNU
gettext; `make run`, `make test` and the Docker build call it. .mo files are
build output and never committed. Only files whose .po is newer are rewritten;
fuzzy and untranslated entries are left out, as msgfmt does.

Usage: python tools/compilemessages.py [--check]
  --check  exit 1 when an entry is untranslated or fuzzy (nothing is written).
"""

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    problems = 0
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        catalogue = polib.pofile(str(po_path))
        missing = [e for e in catalogue if not e.obsolete and (not e.translated() or e.fuzzy)]
        for entry in missing:
            problems += 1
            print(f"{po_path.relative_to(ROOT)}: untranslated or fuzzy: {entry.msgid!r}")
        if check:
            continue
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalogue.save_as_mofile(str(mo_path))
        print(f"compiled {mo_path.relative_to(ROOT)}")
    return 1 if check and problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
