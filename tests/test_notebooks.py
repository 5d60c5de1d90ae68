"""Every reference notebook under `nbs/` is a test item, run by nbdev's own runner.

nbdev's skip rules apply: cells flagged with one of `tst_flags` (`notest`, `slow`, `gpu`) are skipped,
and `IN_TEST=1` is set so notebooks shrink their work. Experiment notebooks (`nbs/experiments/`) are
run through papermill in `test_experiments.py` instead, with their small default parameters.
"""
from pathlib import Path

import tomllib

import pytest
from nbdev import test as nbdev_test   # (not `import test_nb`: pytest would collect it as a test)

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
TST_FLAGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["nbdev"]["tst_flags"].split()
SKIP_DIRS = {"experiments", "tutorials", ".ipynb_checkpoints"}


def _notebooks():
    for p in sorted(NBS.rglob("*.ipynb")):
        rel = p.relative_to(NBS)
        if rel.parts[0] in SKIP_DIRS or any(s.startswith(("_", ".")) for s in rel.parts): continue
        yield p


@pytest.mark.parametrize("nb", list(_notebooks()), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb):
    flags = TST_FLAGS
    ok, _ = nbdev_test.test_nb(nb, skip_flags=flags, basepath=ROOT, showerr=True)
    assert ok, f"{nb.name} failed (see the traceback above)"
