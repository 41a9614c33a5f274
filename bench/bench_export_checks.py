"""The export validation's cost (issue 16): 1 GiB of XML and of JSON checked as it streams,
against the same bytes unchecked.

    . var/podman/env && .venv/bin/python bench/bench_export_checks.py [--repeats 3] [--size-mib 1024] [--docker]

(``bench/run_all.py --only exports`` runs the same, two rounds, and writes it into the report;
``--quick``: 64 MiB, one round, no docker.)

Two documents, generated on the fly in ``CHUNK`` (1 MiB, the sandboxes' read size)
pieces that cut records anywhere, never held whole: an ONIX 3.0-like product feed
(XML) and a JSON array of book records (nested objects and arrays, strings with
non-ASCII text and escapes, integers, decimals, booleans, nulls). A block of ≈ 1.5 MiB
of distinct records repeats to the size asked for.

- **The check alone** (``memo.export_checks``, fed each piece as ``ExportFile`` feeds
  it), against the generator alone, ``ExportFile`` with no check (write + fsync +
  rename: the bare cost of the export) and ``ExportFile`` with the check.
- **End to end**: ``Runner.run_task`` of a script printing the document, process
  sandbox (and with ``--docker`` the docker sandbox), ``MEMO_VALIDATE_EXPORTS`` on
  (the default) against ``off``.

Every case runs in a fresh child process (``bench.children.run_child``), so its peak
RSS (``VmHWM``) is its own; the cases alternate round by round and ``os.sync()``
runs (untimed) before each. Each case also runs at 64 MiB: the peak must not grow
with the output.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.children import run_child, vm_hwm_kb  # noqa: E402
from bench.common import fresh_dir, log  # noqa: E402
from bench.memo_db import BenchMemo  # noqa: E402
from bench.results import Section, Table  # noqa: E402
from bench.runner_settings import bench_settings, docker_problem, scrub_memo_env, settings_dict  # noqa: E402
from bench.stats import Stat, mmm, ratio  # noqa: E402

MB = 1_000_000
MIB = 1 << 20
GIB = 1 << 30
SMALL = 64 * MIB
FORMATS = ("xml", "json")

DOCUMENT_SOURCE = r'''
import json

WORDS = ("open", "access", "Geschichte", "écritures", "über", "Kultur", "society", "Ålesund",
         "policy", "naïve", "history", "Zeit", "Raum", "science", "libros", "Łódź", "media")


def _words(i, n):
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n))


def _record(i):
    return {
        "id": f"20.500.12657/{40000 + i}", "isbn": [f"978946270{i % 10000:04d}", f"978946271{i % 10000:04d}"],
        "title": _words(i, 6).title(), "subtitle": _words(i + 1, 9) + " & \"more\"",
        "contributors": [{"name": f"{_words(i + k, 1).title()}, A.", "role": "A01" if k else "B01",
                          "orcid": None if k % 2 else f"0000-0002-{i % 9999:04d}-{k:04d}"} for k in range(1 + i % 3)],
        "language": ["eng", "ger", "fre", "dut"][i % 4], "year": 2000 + i % 25, "pages": 120 + i % 400,
        "price": round(9.99 + (i % 50) * 1.25, 2), "open_access": i % 5 != 0,
        "subjects": [{"scheme": "thema", "code": f"J{chr(65 + i % 26)}{chr(65 + k)}"} for k in range(3)],
        "abstract": (_words(i, 12) + ". ") * (2 + i % 6),
    }


def _xml_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _product(i):
    r = _record(i)
    contributors = "".join(
        f'<Contributor><SequenceNumber>{k + 1}</SequenceNumber><ContributorRole>{c["role"]}</ContributorRole>'
        f'<PersonNameInverted>{_xml_text(c["name"])}</PersonNameInverted></Contributor>'
        for k, c in enumerate(r["contributors"]))
    subjects = "".join(f"<Subject><SubjectSchemeIdentifier>93</SubjectSchemeIdentifier>"
                       f"<SubjectCode>{s['code']}</SubjectCode></Subject>" for s in r["subjects"])
    return (
        f'<Product datestamp="2024060{1 + i % 9}">\n<RecordReference>{r["id"]}</RecordReference>'
        f"<NotificationType>03</NotificationType>\n"
        f'<ProductIdentifier><ProductIDType>15</ProductIDType><IDValue>{r["isbn"][0]}</IDValue></ProductIdentifier>\n'
        f"<DescriptiveDetail><ProductComposition>00</ProductComposition><ProductForm>EB</ProductForm>"
        f'<TitleDetail><TitleType>01</TitleType><TitleElement><TitleElementLevel>01</TitleElementLevel>'
        f'<TitleText>{_xml_text(r["title"])}</TitleText><Subtitle>{_xml_text(r["subtitle"])}</Subtitle>'
        f"</TitleElement></TitleDetail>\n{contributors}\n"
        f'<Language><LanguageRole>01</LanguageRole><LanguageCode>{r["language"]}</LanguageCode></Language>'
        f'<Extent><ExtentType>00</ExtentType><ExtentValue>{r["pages"]}</ExtentValue></Extent>{subjects}'
        f"</DescriptiveDetail>\n<CollateralDetail><TextContent><TextType>03</TextType>"
        f'<Text language="{r["language"]}">{_xml_text(r["abstract"])}</Text></TextContent></CollateralDetail>\n'
        f"<PublishingDetail><Publisher><PublisherName>Amsterdam University Press</PublisherName></Publisher>"
        f'<PublishingDate><Date dateformat="00">{r["year"]}0101</Date></PublishingDate></PublishingDetail>\n'
        f'<ProductSupply><SupplyDetail><Price><PriceAmount>{r["price"]}</PriceAmount>'
        f"<CurrencyCode>EUR</CurrencyCode></Price></SupplyDetail></ProductSupply>\n</Product>\n"
    )


def document(fmt, size, block_bytes=3 << 19):
    """(head, block, tail, blocks): head + block * blocks + tail is a well-formed document of about
    ``size`` bytes; the block is distinct records, at least ``block_bytes`` long."""
    if fmt == "xml":
        head = ('<?xml version="1.0" encoding="UTF-8"?>\n<ONIXMessage release="3.0" '
                'xmlns="http://ns.editeur.org/onix/3.0/reference">\n<Header><Sender><SenderName>OAPEN'
                "</SenderName></Sender><SentDateTime>20240603T0300+0200</SentDateTime></Header>\n").encode()
        record, tail = (lambda i: _product(i).encode()), b"</ONIXMessage>\n"
    else:
        head = b"[\n"
        record = lambda i: json.dumps(_record(i), ensure_ascii=False).encode() + b",\n"  # noqa: E731
        tail = json.dumps(_record(-1), ensure_ascii=False).encode() + b"\n]\n"
    parts, length, i = [], 0, 0
    while length < block_bytes:
        parts.append(record(i))
        length += len(parts[-1])
        i += 1
    block = b"".join(parts)
    return head, block, tail, max(1, round((size - len(head) - len(tail)) / len(block)))
'''
_documents: dict = {}
exec(DOCUMENT_SOURCE, _documents)  # the same code runs in the benchmark and in the end-to-end script
document = _documents["document"]

SCRIPT_MAIN = r'''
import sys

head, block, tail, blocks = document(FORMAT, SIZE)
out = sys.stdout.buffer
out.write(head)
for _ in range(blocks):
    out.write(block)
out.write(tail)
out.flush()
'''


def script(fmt: str, size: int) -> str:
    """The end-to-end task's script: writes the document to stdout as it is generated."""
    return DOCUMENT_SOURCE + f"\nFORMAT = {fmt!r}\nSIZE = {size}\n" + SCRIPT_MAIN


def pieces(fmt: str, size: int, chunk: int):
    """The document as the sandbox hands it on: memoryviews of at most ``chunk`` bytes, records cut anywhere."""
    head, block, tail, blocks = document(fmt, size)
    assert len(block) >= chunk
    doubled = memoryview(block * 2)
    yield memoryview(head)
    body = len(block) * blocks
    for position in range(0, body, chunk):
        offset = position % len(block)
        yield doubled[offset:offset + min(chunk, body - position)]
    yield memoryview(tail)


# -- the check alone, in a child process -------------------------------------------------


def child_feed(fmt: str, size: int, path: str, folder: str) -> dict:
    """One case: ``path`` is ``generator``, ``check``, ``file`` or ``file+check``. Times the
    feeding/writing and (for the file paths) the commit: fsync and rename."""
    from memo.export_checks import check_for
    from memo.exports import ExportFile, ExportRules
    from memo.sandbox.base import CHUNK, write_out

    rules = ExportRules(check_extensions=frozenset({"xml", "rss", "json"}) if "check" in path else frozenset())
    target = Path(folder) / "client" / f"export.{fmt}"
    before = vm_hwm_kb()
    os.sync()
    total, commit = 0, 0.0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if path in ("generator", "check"):
        check = check_for(target.name, rules.check_extensions)
        for piece in pieces(fmt, size, CHUNK):
            total += len(piece)
            if check is not None:
                check.feed(bytes(piece))  # as ExportFile's writer feeds it
        problem = check.problem() if check is not None else None
        write = time.perf_counter() - t0
    else:
        with ExportFile(Path(folder), target, rules) as export:
            for piece in pieces(fmt, size, CHUNK):
                write_out(export.file, piece)
                total += len(piece)
            write = time.perf_counter() - t0
            t1 = time.perf_counter()
            export.commit()  # the check's verdict (OutputRefused when malformed), fsync, rename
            commit = time.perf_counter() - t1
        problem = None
        assert target.stat().st_size == total
        target.unlink()
    cpu = time.process_time() - cpu0
    if problem:
        raise RuntimeError(f"the generated {fmt} is not well-formed: {problem}")
    return {"duration": write + commit, "write": write, "commit": commit, "cpu": cpu, "bytes": total,
            "hwm_before_kb": before}


CHECK_PATHS = {
    "generator": "generator alone (no check, no file)",
    "check": "check alone (no file)",
    "file": "`ExportFile`, no check (bare)",
    "file+check": "`ExportFile` + check",
}


def check_alone(work: Path, logs: Path, size: int, repeats: int) -> dict:
    """{(fmt, path, size): [child results]}, rounds alternating every case."""
    results: dict = {}
    folder = fresh_dir(work / "feed")
    for r in range(repeats):
        for s in (size, SMALL) if size > SMALL else (size,):
            for fmt in FORMATS:
                for path in CHECK_PATHS:
                    if s == SMALL and r > 0:
                        continue  # the 64 MiB runs are for the peak RSS: once is enough
                    log(f"export checks: round {r + 1}/{repeats}, {fmt} {path} {s // MIB} MiB")
                    res = run_child("bench.bench_export_checks:child_feed",
                                    {"fmt": fmt, "size": s, "path": path, "folder": str(folder)}, logs=logs)
                    results.setdefault((fmt, path, s), []).append(res.data)
    return results


# -- end to end, Runner.run_task ----------------------------------------------------------


def end_to_end(work: Path, logs: Path, size: int, repeats: int, sandboxes: list[str]) -> dict:
    """{(sandbox, fmt, validation, size): [child results]} of ``Runner.run_task`` (bench.output_size's
    child: a trivial warm-up task first, then the measured one; the export removed after)."""
    folder = fresh_dir(work / "e2e")
    memo = BenchMemo.sqlite(folder / "db")
    sizes = (size, SMALL) if size > SMALL else (size,)
    tasks = {(fmt, s): memo.add_tasks([{"username": "exports", "file_name": f"feed{s // MIB}.{fmt}",
                                        "body": script(fmt, s), "sql": None}])[0]
             for fmt in FORMATS for s in sizes}
    warm_id = memo.trivial_tasks(1)[0]
    memo.close()
    results: dict = {}
    for r in range(repeats):
        for s in sizes:
            if s == SMALL and r > 0:
                continue
            for sandbox in sandboxes:
                for fmt in FORMATS:
                    for validation in ("off", "xml,rss,json"):
                        settings = bench_settings(folder / sandbox, memo.url, sandbox, validate_exports=validation,
                                                  export_history=0)
                        log(f"end to end: round {r + 1}/{repeats}, {sandbox} {fmt} {s // MIB} MiB, "
                            f"validation {validation}")
                        res = run_child("bench.output_size:child_runner_output",
                                        {"settings": settings_dict(settings), "task_id": tasks[(fmt, s)],
                                         "warm_id": warm_id}, logs=logs)
                        results.setdefault((sandbox, fmt, validation, s), []).append(res.data)
    return results


# -- tables -------------------------------------------------------------------------------


def _stat(results: list[dict], key: str = "duration") -> Stat:
    return Stat.of(r[key] for r in results)


def _paired(on: list[dict], off: list[dict], key: str = "duration") -> Stat:
    return Stat.of(a[key] - b[key] for a, b in zip(on, off))


def _mb(value: float) -> str:
    return f"{value / 1024:.0f}"


def check_tables(results: dict, size: int) -> list[Table]:
    times = Table(f"The check alone and through the export file, {size // MIB:,} MiB (s; median of the rounds)",
                  ["format, path", "median (s)", "min", "max", "MB/s", "vs `ExportFile`, no check",
                   "write (s)", "commit: fsync + rename (s)", "CPU (s)", "MB per CPU-s"])
    added = []
    for fmt in FORMATS:
        bare = _stat(results[(fmt, "file", size)]).median
        for path, label in CHECK_PATHS.items():
            runs = results[(fmt, path, size)]
            st = _stat(runs)
            file_cells = ([f"{_stat(runs, 'write').median:.2f}", f"{_stat(runs, 'commit').median:.2f}"]
                          if path.startswith("file") else ["—", "—"])
            cpu = _stat(runs, "cpu").median
            times.add(f"{fmt}, {label}", *mmm(st, lambda v: f"{v:.2f}"), f"{runs[0]['bytes'] / MB / st.median:,.0f}",
                      ratio(st.median, bare), *file_cells, f"{cpu:.2f}", f"{runs[0]['bytes'] / MB / cpu:,.0f}")
        diff = _paired(results[(fmt, "file+check", size)], results[(fmt, "file", size)])
        cpu = _paired(results[(fmt, "file+check", size)], results[(fmt, "file", size)], "cpu")
        added.append(f"**{fmt.upper()}: validation adds {diff.median * GIB / size:.1f} s per GiB** "
                     f"(paired difference, round by round: median {diff.median:.2f} s, "
                     f"{diff.min:.2f}–{diff.max:.2f}, over {diff.n} rounds, {size // MIB:,} MiB); "
                     f"CPU time {cpu.median * GIB / size:.1f} s per GiB ({cpu.min:.2f}–{cpu.max:.2f} s).")
    times.notes += added
    rows = {label: (lambda fmt, s, path=path: (fmt, path, s)) for path, label in CHECK_PATHS.items()}
    return [times, rss_table(results, size, rows, "Peak RSS (VmHWM, MB) of the child process per case")]


def rss_table(results: dict, size: int, rows: dict, title: str) -> Table:
    """Peak RSS per row (``rows``: label → key of (format, size)), one column per format and size."""
    sizes = (SMALL, size) if size > SMALL else (size,)
    table = Table(title, ["case"] + [f"{fmt}, {s // MIB:,} MiB" for s in sizes for fmt in FORMATS])
    for label, key in rows.items():
        cells = []
        for s in sizes:
            for fmt in FORMATS:
                runs = results.get(key(fmt, s))
                cells.append("—" if not runs else _mb(Stat.of(r["vm_hwm_kb"] for r in runs).median))
        table.add(label, *cells)
    table.notes.append("Median over the rounds (the 64 MiB cases: one run). The child's own `VmHWM` at its "
                       "end: interpreter, imports and the case's buffers.")
    return table


def e2e_tables(results: dict, size: int, sandboxes: list[str]) -> list[Table]:
    table = Table(f"End to end: `Runner.run_task` of a script printing {size // MIB:,} MiB",
                  ["sandbox, format, `MEMO_VALIDATE_EXPORTS`", "median (s)", "min", "max", "MB/s", "vs off",
                   "added (paired median, s)", "added per GiB (s)", "runner VmHWM (MB)"])
    for sandbox in sandboxes:
        for fmt in FORMATS:
            off = results[(sandbox, fmt, "off", size)]
            for validation in ("off", "xml,rss,json"):
                runs = results[(sandbox, fmt, validation, size)]
                st = _stat(runs)
                diff = _paired(runs, off) if validation != "off" else None
                table.add(f"{sandbox}, {fmt}, {validation}", *mmm(st, lambda v: f"{v:.2f}"),
                          f"{runs[0]['bytes'] / MB / st.median:,.0f}", ratio(st.median, _stat(off).median),
                          "—" if diff is None else f"{diff.median:.2f} ({diff.min:.2f}–{diff.max:.2f})",
                          "—" if diff is None else f"{diff.median * GIB / size:.1f}",
                          _mb(Stat.of(r["vm_hwm_kb"] for r in runs).median))
    rows = {f"{sb}, validation {v}": (lambda fmt, s, sb=sb, v=v: (sb, fmt, v, s))
            for sb in sandboxes for v in ("off", "xml,rss,json")}
    rss = rss_table(results, size, rows, "Runner peak RSS (VmHWM, MB), 64 MiB against the full size")
    return [table, rss]


# -- entry points ---------------------------------------------------------------------------


def measure(work: Path, logs: Path, *, size: int, repeats: int, docker: bool) -> tuple[list[Table], list[str]]:
    notes = [f"Load average at the start: {'/'.join(f'{x:.2f}' for x in os.getloadavg())} "
             f"({os.cpu_count()} cores, shared)."]
    t0 = time.perf_counter()
    tables = check_tables(check_alone(work, logs, size, repeats), size)
    notes.append(f"Check alone: {time.perf_counter() - t0:.0f} s, load average after "
                 f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}.")
    sandboxes = ["process"]
    problem = docker_problem() if docker else "not asked for (--docker)"
    if problem is None:
        sandboxes.append("docker")
    else:
        notes.append(f"Docker sandbox not measured: {problem}.")
    t0 = time.perf_counter()
    tables += e2e_tables(end_to_end(work, logs, size, repeats, sandboxes), size, sandboxes)
    notes.append(f"End to end: {time.perf_counter() - t0:.0f} s, load average after "
                 f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}.")
    return tables, notes


def run(ctx) -> Section:
    section = Section("exports", "Export validation: cost per GiB of XML and JSON (issue 16)",
                      intro=__doc__.split("\n\n", 2)[2].strip())
    size = SMALL if ctx.quick else GIB
    tables, notes = measure(fresh_dir(ctx.work / "exports"), ctx.logs, size=size,
                            repeats=1 if ctx.quick else 2, docker=not ctx.quick)  # the suite's budget
    section.tables += tables
    section.notes += notes
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of every case (default 3)")
    parser.add_argument("--size-mib", type=int, default=1024, help="document size (default 1024 MiB)")
    parser.add_argument("--docker", action="store_true", help="also end to end with the docker sandbox")
    args = parser.parse_args(argv)
    scrub_memo_env()
    base = ROOT / "var" / "bench"
    work, logs = fresh_dir(base / "export-checks"), base / "logs-export-checks"
    try:
        tables, notes = measure(work, logs, size=args.size_mib * MIB, repeats=args.repeats, docker=args.docker)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    for table in tables:
        print("\n" + table.markdown())
    print("\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
