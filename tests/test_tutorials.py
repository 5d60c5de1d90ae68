"""Each tutorial in `nbs/tutorials/` runs in a fresh virtual environment created from the repository, as Colab would.

Colab has torch and the scientific stack preinstalled and runs `pip install git+https://github.com/infantpose/infantpose`.
Emulated here without network and without a 6-minute torch install:
- "preinstalled": a new venv from the same base interpreter as `.venv`, plus a `.pth` file pointing at a folder of links to
  `.venv`'s third-party packages, *minus* infantpose itself (its editable-install finder, `.pth` and dist-info);
- "pip install <repo>": a plain (not editable) `pip install --no-index --no-build-isolation` of a copy of the repository's
  tracked and new files (what a clone holds), so the package must work from site-packages alone;
- each tutorial runs in an empty working folder (nothing of the working tree on `sys.path`), code cells in order, with
  `IN_TEST=1` (the tutorials' quick settings) and the shared offline data hidden (`INFANTPOSE_SHARED_DATA` points nowhere,
  as on Colab).
One environment is shared by all tutorials (module-scoped fixture).
"""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "nbs" / "tutorials").glob("[0-9]*.ipynb"))
VENV = ROOT / ".venv"

# Runs a notebook's code cells in one namespace; `%` / `!` lines would be IPython-only, so tutorials must not use them.
RUNNER = r"""
import json, sys, os, traceback
import matplotlib; matplotlib.use("Agg")
nb = json.load(open(sys.argv[1]))
ns = {"__name__": "__main__"}
for i, cell in enumerate(nb["cells"]):
    if cell["cell_type"] != "code": continue
    src = "".join(cell["source"])
    first = src.lstrip().splitlines()[0] if src.strip() else ""
    if any(f in first for f in ("#| slow", "#| notest", "#| gpu")): continue
    try: exec(compile(src, f"<cell {i}>", "exec"), ns)
    except Exception:
        traceback.print_exc(); print(f"FAILED in code cell {i}:\n{src}", file=sys.stderr); sys.exit(1)
    import matplotlib.pyplot as plt; plt.close("all")
print("OK")
"""


def _site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def _base_python() -> str:
    cfg = dict(l.split(" = ", 1) for l in (VENV / "pyvenv.cfg").read_text().splitlines() if " = " in l)
    return cfg.get("executable") or str(Path(cfg["home"]) / "python3")


def _is_infantpose(entry: Path) -> bool:
    n = entry.name.lower()
    if n.startswith(("infantpose", "__editable__")) and "infantpose" in n: return True
    return n.endswith(".pth") and str(ROOT) in entry.read_text(errors="ignore")


@pytest.fixture(scope="module")
def colab_env(tmp_path_factory):
    "A fresh venv with the dependencies 'preinstalled' and infantpose pip-installed (not editable) from a copy of the repo."
    if not VENV.exists(): pytest.skip(".venv is missing: run `make test`, which creates it")
    tmp = tmp_path_factory.mktemp("colab")
    pre = tmp / "preinstalled"; pre.mkdir()
    for e in _site_packages(VENV).iterdir():
        if _is_infantpose(e) or e.name == "__pycache__": continue
        if e.suffix == ".pth": continue
        (pre / e.name).symlink_to(e)
    env_dir = tmp / "venv"
    # no pip / setuptools of its own: the base interpreter's bundled setuptools is too old for pyproject's `license = "..."`,
    # so pip and the build backend come from the preinstalled folder (Colab's pip builds with an up-to-date setuptools)
    subprocess.run([_base_python(), "-m", "venv", "--without-pip", str(env_dir)], check=True)
    (_site_packages(env_dir) / "_colab_preinstalled.pth").write_text(str(pre) + "\n")
    src = tmp / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True,
                           text=True).stdout.split("\n")
    for f in filter(None, files):
        if not (ROOT / f).is_file(): continue
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_bytes((ROOT / f).read_bytes())
    py = env_dir / "bin" / "python"
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", str(src)],
                       capture_output=True, text=True, cwd=tmp)
    assert r.returncode == 0, f"pip install of the repository failed:\n{r.stdout}\n{r.stderr}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "SYRIP", "INFANTPOSE"))}
    env.update(IN_TEST="1", OMP_NUM_THREADS="1", MPLBACKEND="Agg", INFANTPOSE_SHARED_DATA=str(tmp / "no_shared_data"))
    return dict(python=py, env=env, tmp=tmp)


def test_installed_not_editable(colab_env):
    "The package the tutorials import comes from the fresh venv's site-packages, not from the working tree."
    out = subprocess.run([str(colab_env["python"]), "-c", "import infantpose; print(infantpose.__file__)"], capture_output=True,
                         text=True, env=colab_env["env"], cwd=colab_env["tmp"], check=True).stdout.strip()
    assert str(colab_env["tmp"] / "venv") in out and str(ROOT) not in out, out


def test_data_dir_non_editable(colab_env):
    "After a plain `pip install`, `infantpose.paths.data_dir()` is the copy of data/ shipped in the wheel (the renderer needs it), subfolders included."
    out = subprocess.run([str(colab_env["python"]), "-c", "from infantpose.paths import data_dir; d = data_dir(); "
                          "print(d, all((d / f).exists() for f in ('makehuman_body.npz', 'models/default_model.pt', "
                          "'reference_state_dicts/README.md')))"], capture_output=True, text=True,
                         env=colab_env["env"], cwd=colab_env["tmp"], check=True).stdout.strip()
    assert out.endswith("True") and str(colab_env["tmp"] / "venv") in out, f"data_dir() after a non-editable install: {out}"


@pytest.mark.parametrize("nb", TUTORIALS, ids=lambda p: p.name)
def test_tutorial(colab_env, nb, tmp_path):
    text = nb.read_text()
    assert "colab.research.google.com/assets/colab-badge.svg" in text, f"{nb.name}: no Colab badge"
    assert f"blob/main/nbs/tutorials/{nb.name}" in text, f"{nb.name}: the Colab badge does not link this notebook"
    work = tmp_path / "nbs" / "tutorials"; work.mkdir(parents=True)        # figures go to ../../figures, inside tmp
    (work / nb.name).write_text(text)
    (work / "run.py").write_text(RUNNER)
    r = subprocess.run([str(colab_env["python"]), "run.py", nb.name], capture_output=True, text=True, env=colab_env["env"],
                       cwd=work, timeout=300)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("OK"), f"{nb.name} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
