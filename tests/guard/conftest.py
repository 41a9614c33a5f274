from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
REFUSED = sorted((CORPUS / "refused").glob("*.py"))
ACCEPTED = sorted((CORPUS / "accepted").glob("*.py"))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def body(path: Path) -> str:
    """The script without its first line, the comment naming the technique
    (used to score the old regex guard, which would match words in it)."""
    return read(path).split("\n", 1)[1]
