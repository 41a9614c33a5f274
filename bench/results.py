"""What a benchmark section returns: its tables, goals, notes and profiles.

Every section's ``run(ctx)`` returns a ``Section``; ``bench/run_all.py`` writes them to
BENCHMARKS.md (``Table.markdown``) and the terminal (``Table.text``).

Its own module because it is the one shape every section reports in, apart from how the
figures are measured (``bench.stats``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def markdown(self) -> str:
        out = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
               "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            out.append("")
            out += self.notes
        return "\n".join(out)

    def text(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        line = lambda cells: "  ".join(  # noqa: E731
            (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(cells, widths))
        )
        return "\n".join([self.title, line(self.columns)] + [line(r) for r in self.rows])


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None
    """None: could not be measured in this run."""

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**MISSED**", None: "not measured"}[self.met]


@dataclass
class Section:
    name: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    seconds: float = 0.0
    error: str | None = None
