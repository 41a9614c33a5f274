# A sniplet-style helper module with type hints, Literal strings and forward references; near-misses: Literal["open"], "Book" annotations
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, Literal, Optional

Access = Literal["open", "closed", "embargoed"]


@dataclass(frozen=True)
class Book:
    handle: str
    title: str
    access: Access
    parent: Optional["Book"] = None


def by_access(books: Iterable["Book"], access: Access = "open") -> Iterator[Book]:
    for book in books:
        if book.access == access:
            yield book


def index(books: Iterable[Book]) -> Dict[str, "Book"]:
    return {b.handle: b for b in books}


def from_rows(rows) -> list["Book"]:
    return [Book(h, t, a if a in ("open", "closed", "embargoed") else "closed") for h, t, a in rows]
