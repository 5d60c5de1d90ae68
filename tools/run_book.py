"""Execute the book's notebooks in place, so that they are committed with their outputs, and record what was run.

    python tools/run_book.py                          # every chapter, tutorial and experiment notebook
    python tools/run_book.py nbs/03_metrics.ipynb     # only these
    python tools/run_book.py nbs/experiments/x.ipynb --from outputs/x/run.ipynb --note "the run of 3 Dec 2026 with -p ..."
    python tools/run_book.py --check                  # what `tests/test_book.py` checks: every notebook fresh, none empty

Chapters and tutorials run at their default settings (not `IN_TEST`), with the cells that the test runner skips
(`#| slow`, `#| notest`, `#| gpu`, `#| eval: false`) left out: those keep whatever outputs they already had (a slow cell
run once by hand keeps its output). Experiment notebooks run with their small default parameters, or take the outputs
of a real papermill run (`--from`): its injected parameters are listed in a note above the outputs instead of replacing
the notebook's defaults. Each notebook's code is hashed into `nbs/executed.json`; the test fails when a notebook's code
has changed since its outputs were made (printed timings and figures are not compared), or when it has no output.
"""
import argparse
import hashlib
import json
import os
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
RECORD = NBS / "executed.json"
SKIP_FLAGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["nbdev"]["tst_flags"].split()
NOTE_TAG = "run-note"          # the markdown cell that says which papermill run an experiment's outputs come from


def book_notebooks() -> list[Path]:
    "Every notebook of the book: nbs/*.ipynb, tutorials and experiments (not folders starting with '_' or '.')."
    return [p for p in sorted(NBS.rglob("*.ipynb"))
            if not any(s.startswith(("_", ".")) for s in p.relative_to(NBS).parts)]


def directives(source: str) -> list[str]:
    "The `#| ...` lines at the top of a cell, without the marker: ['slow'], ['eval: false'], ..."
    out = []
    for line in source.splitlines():
        if not line.startswith("#|"): break
        out.append(line[2:].strip())
    return out


def skipped(cell: dict) -> bool:
    "Whether the test runner skips this code cell (so the book run does too)."
    d = directives("".join(cell["source"]))
    return any(x in SKIP_FLAGS for x in d) or any(x.replace(" ", "") == "eval:false" for x in d)


def code_hash(nb: dict) -> str:
    "sha256 of the notebook's code cells (sources in order); markdown and outputs are not part of it."
    h = hashlib.sha256()
    for c in nb["cells"]:
        if c["cell_type"] == "code": h.update(("".join(c["source"]) + "\n\x00").encode())
    return h.hexdigest()[:16]


def has_outputs(nb: dict) -> bool:
    return any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def _read(p: Path) -> dict: return json.loads(p.read_text())
def _write(p: Path, nb: dict): p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute(path: Path, timeout: int = 1800) -> dict:
    "Run `path`'s code cells (skipped ones blanked) in its folder with nbclient; the notebook with the new outputs."
    import nbformat
    from nbclient import NotebookClient
    nb = _read(path)
    run = nbformat.reads(json.dumps(nb), as_version=4)
    keep = [c.cell_type != "code" or not skipped(c) for c in run.cells]
    for c, k in zip(run.cells, keep):
        if not k: c.source = ""                       # a blank cell keeps the numbering; its old outputs are restored below
    env_in_test = os.environ.pop("IN_TEST", None)     # the book shows the default settings, not the test's quick ones
    try:
        NotebookClient(run, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_in_test is not None: os.environ["IN_TEST"] = env_in_test
    for c, r, k in zip(nb["cells"], run.cells, keep):
        if c["cell_type"] == "code" and k: c["outputs"] = r.outputs
    return nb


def take_outputs(path: Path, executed: Path, note: str) -> dict:
    "`path` with the outputs of `executed` (a papermill run of it), matched cell by cell on source; `note` says which run."
    nb, ran = _read(path), _read(executed)
    ran_cells = [c for c in ran["cells"] if "injected-parameters" not in c.get("metadata", {}).get("tags", [])]
    injected = [c for c in ran["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    mine = [c for c in nb["cells"] if NOTE_TAG not in c.get("metadata", {}).get("tags", [])]
    def code(cells): return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    if code(mine) != code(ran_cells):
        sys.exit(f"{executed}: its code cells differ from {path}'s: run the notebook again (papermill) first")
    it = iter(c for c in ran_cells if c["cell_type"] == "code")
    for c in mine:
        if c["cell_type"] == "code": c["outputs"] = next(it).get("outputs", [])
    params = "".join(injected[0]["source"]).strip() if injected else "(its defaults)"
    text = f"**The outputs below** are those of {note}, whose parameters were:\n```python\n{params}\n```"
    note_cell = {"cell_type": "markdown", "metadata": {"tags": [NOTE_TAG]}, "source": text.splitlines(keepends=True)}
    i = next(i for i, c in enumerate(mine) if "parameters" in c.get("metadata", {}).get("tags", []))
    mine.insert(i + 1, note_cell)
    nb["cells"] = mine
    return nb


def check() -> list[str]:
    "One line per problem: a notebook never run by this script, run on older code, or without any output."
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    problems = []
    for p in book_notebooks():
        key, nb = str(p.relative_to(NBS)), _read(p)
        run = f"python tools/run_book.py nbs/{key}"
        if key not in record: problems.append(f"{key}: never executed for the book ({run})")
        elif record[key]["code"] != code_hash(nb): problems.append(f"{key}: its code changed since its outputs were made ({run})")
        elif not has_outputs(nb): problems.append(f"{key}: no outputs")
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("notebooks", nargs="*", type=Path, help="notebooks to run (default: the whole book)")
    ap.add_argument("--from", dest="source", type=Path, help="take the outputs of this executed copy instead of running")
    ap.add_argument("--note", default="", help="with --from: which run it was (date, command), shown above the outputs")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="only report stale or empty notebooks (exit 1 if any)")
    a = ap.parse_args(argv)
    if a.check:
        problems = check(); print("\n".join(problems) or "every notebook of the book is fresh")
        sys.exit(1 if problems else 0)
    paths = [p.resolve() for p in a.notebooks] or book_notebooks()
    if a.source and len(paths) != 1: sys.exit("--from takes exactly one notebook")
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    for p in paths:
        t = time.time()
        print(f"{p.relative_to(ROOT)} ...", end=" ", flush=True)
        nb = take_outputs(p, a.source, a.note or str(a.source)) if a.source else execute(p, a.timeout)
        _write(p, nb)
        record[str(p.relative_to(NBS))] = {"code": code_hash(nb), "date": time.strftime("%Y-%m-%d")}
        RECORD.write_text(json.dumps(dict(sorted(record.items())), indent=1) + "\n")
        print(f"{time.time() - t:.0f} s")
    print("now run nbdev-clean (it keeps outputs, strips metadata) and commit the notebooks with nbs/executed.json")


if __name__ == "__main__":
    main()
