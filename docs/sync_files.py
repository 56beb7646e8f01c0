"""Copy each file shown on a docs page back into its block: ``python docs/sync_files.py``.

A fenced block right after ``<!-- file: PATH -->`` shows the repository file
PATH; ``tests/test_docs.py`` fails when the two differ. The embedding pages
also state their example's lines of glue (:func:`glue_lines`), which
``tests/test_examples.py`` checks; this script updates those counts too. Run
it after editing an example, then commit the pages it changed. Standard
library only.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"(<!--\s*file:\s*(\S+)\s*-->\s*\n+)(`{3,})([^\n`]*)\n(.*?)\n?\3[ \t]*$", re.S | re.M)


_GLUE = re.compile(r"(counts the lines of `(\S+)`(?:.|\n)*?docstrings or imports: \*\*)(\d+)(\*\*)")


def glue_lines(path: Path) -> int:
    """Lines of code in an example: not blank, not a comment, not a docstring, not an import."""
    source = path.read_text(encoding="utf-8")
    skip: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skip.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return sum(1 for n, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and n not in skip)


def sync(text: str) -> str:
    def fill(m: re.Match[str]) -> str:
        body = (ROOT / m.group(2)).read_text(encoding="utf-8")
        return f"{m.group(1)}{m.group(3)}{m.group(4)}\n{body.rstrip(chr(10))}\n{m.group(3)}"

    def count(m: re.Match[str]) -> str:
        return f"{m.group(1)}{glue_lines(ROOT / m.group(2))}{m.group(4)}"

    return _GLUE.sub(count, _BLOCK.sub(fill, text))


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
