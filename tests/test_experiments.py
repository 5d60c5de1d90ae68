"""Smoke tests of the experiment notebooks: each runs top to bottom through papermill with its default
(small, CPU) parameters, as `papermill nbs/experiments/X.ipynb out.ipynb` would for a user.

Every experiment notebook has a `parameters` cell with an `out_dir` parameter; the test points it at a
temporary folder and checks that the notebook wrote its results there.
"""
from pathlib import Path

import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "nbs" / "experiments").glob("*.ipynb"))


def test_every_experiment_has_a_parameters_cell():
    import nbformat
    for nb_path in EXPERIMENTS:
        nb = nbformat.read(nb_path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{nb_path.name}: expected exactly one cell tagged 'parameters', found {len(tagged)}"
        assert "out_dir" in tagged[0].source, f"{nb_path.name}: the parameters cell must define out_dir"


@pytest.mark.parametrize("nb_path", EXPERIMENTS, ids=lambda p: p.name)
def test_experiment_runs_with_defaults(nb_path, tmp_path):
    out_dir = tmp_path / "results"
    pm.execute_notebook(str(nb_path), str(tmp_path / nb_path.name), parameters={"out_dir": str(out_dir)},
                        cwd=str(nb_path.parent), kernel_name="python3", progress_bar=False)
    written = list(out_dir.rglob("*")) if out_dir.exists() else []
    assert written, f"{nb_path.name} wrote nothing to out_dir"
