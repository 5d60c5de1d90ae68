"""The book is committed executed: every chapter, tutorial and experiment notebook carries outputs made from its
current code (`tools/run_book.py` runs them and records a hash of each notebook's code in `nbs/executed.json`)."""
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("run_book", ROOT / "tools" / "run_book.py")
run_book = importlib.util.module_from_spec(spec); spec.loader.exec_module(run_book)


def test_every_notebook_is_executed_and_fresh():
    problems = run_book.check()
    assert not problems, "stale or empty notebooks:\n" + "\n".join(problems)


def test_the_check_sees_a_code_change_and_an_empty_notebook(tmp_path, monkeypatch):
    nb = json.loads((ROOT / "nbs" / "00_skeletons.ipynb").read_text())
    before = run_book.code_hash(nb)
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["source"] = "".join(code["source"]) + "\n# edited"
    assert run_book.code_hash(nb) != before
    for c in nb["cells"]: c["outputs"] = [] if c["cell_type"] == "code" else c.get("outputs")
    assert not run_book.has_outputs(nb)
    (tmp_path / "a.ipynb").write_text(json.dumps(nb))
    monkeypatch.setattr(run_book, "NBS", tmp_path)
    monkeypatch.setattr(run_book, "RECORD", tmp_path / "executed.json")
    assert run_book.check() == ["a.ipynb: never executed for the book (python tools/run_book.py nbs/a.ipynb)"]
    (tmp_path / "executed.json").write_text(json.dumps({"a.ipynb": {"code": run_book.code_hash(nb)}}))
    assert run_book.check() == ["a.ipynb: no outputs"]
    (tmp_path / "executed.json").write_text(json.dumps({"a.ipynb": {"code": before}}))
    assert run_book.check()[0].startswith("a.ipynb: its code changed")


def test_skipped_cells_follow_the_test_flags():
    assert run_book.skipped({"source": ["#| slow\n", "x = 1"]})
    assert run_book.skipped({"source": ["#| eval: false\n", "x = 1"]})
    assert not run_book.skipped({"source": ["#| export\n", "x = 1"]})
