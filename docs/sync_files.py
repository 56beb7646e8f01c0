"""Copy each file shown on a docs page back into its block: ``python docs/sync_files.py``.

A fenced block right after ``<!-- file: PATH -->`` shows the repository file
PATH; ``tests/test_docs.py`` fails when the two differ. Run this after editing
an example, then commit the pages it changed. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"(<!--\s*file:\s*(\S+)\s*-->\s*\n+)(`{3,})([^\n`]*)\n(.*?)\n?\3[ \t]*$", re.S | re.M)


def sync(text: str) -> str:
    def fill(m: re.Match[str]) -> str:
        body = (ROOT / m.group(2)).read_text(encoding="utf-8")
        return f"{m.group(1)}{m.group(3)}{m.group(4)}\n{body.rstrip(chr(10))}\n{m.group(3)}"

    return _BLOCK.sub(fill, text)


def main() -> int:
    changed = 0
    for page in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]):
        old = page.read_text(encoding="utf-8")
        new = sync(old)
        if new != old:
            page.write_text(new, encoding="utf-8")
            print(f"updated {page.relative_to(ROOT)}")
            changed += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
