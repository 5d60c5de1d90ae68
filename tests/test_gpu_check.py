"""`make gpu-check` on a machine without a GPU: its CPU dry run works end to end, and its parts report failures.

The dry run is what CI can run of it: the wheel check, the check runner (the checks a CPU can run: bf16 autocast and a
resumed run equal to an uninterrupted one), papermill on one experiment notebook with `device="cpu"`, the throughput
script on a tiny network, and the report. The CUDA checks themselves run only on a GPU machine.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "gpu_check"))
import run  # noqa: E402  (gpu_check/run.py: standard library only)


def test_dry_run(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "gpu_check" / "run.py"), "--dry-run", "--out", str(out),
                        "--site", str(tmp_path / "site")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert (out / "report_dry_run.json").exists(), r.stdout[-4000:] + r.stderr[-4000:]
    rep = json.loads((out / "report_dry_run.json").read_text())
    (nb,) = rep["notebooks"]
    # the notebook itself is test_experiments.py's business: here it must have run in its kernel, passing or raising
    ran = nb["status"] == "pass" or "Exception encountered" in nb["detail"]
    assert ran and rep["failures"] in ([], [nb["notebook"]]), rep["failures"]
    assert r.returncode == int(bool(rep["failures"])), r.stdout[-4000:] + r.stderr[-4000:]
    assert rep["dry_run"] and rep["missing"] == []
    checks = {c["name"]: c["status"] for c in rep["checks"]}
    assert checks["autocast_bf16"] == checks["resume_equal"] == "pass"
    assert checks["nccl_ddp_fit"] == checks["autocast_fp16"] == "skipped"          # they need CUDA
    assert nb["parameters"]["device"] == "cpu" and (out / "notebooks" / "experiments_fidip_syrip.ipynb").exists()
    assert rep["throughput"][0]["img_per_s"] > 0
    md = (out / "report_dry_run.md").read_text()
    assert "CPU dry run" in md and "| resume_equal | pass |" in md


def test_parameters_cells():
    "Every experiment notebook's parameters are read; the tutorials have none (they pick CUDA when it is there)."
    for nb in (ROOT / "nbs" / "experiments").glob("*.ipynb"): assert "out_dir" in run.parameters(nb), nb.name
    for nb in (ROOT / "nbs" / "tutorials").glob("[0-9]*.ipynb"): assert run.parameters(nb) is None, nb.name
    assert run.parameters(ROOT / "nbs" / "experiments" / "shift_surreal2infant.ipynb")["device"] == "cpu"


def test_crash_during_a_check_is_reported(tmp_path):
    "A script that dies in the middle of a check leaves that check marked failed, with the reason, not 'running'."
    script = tmp_path / "dies.py"
    script.write_text("import json, sys; open(sys.argv[1], 'w').write(json.dumps([dict(name='a', status='pass'), "
                      "dict(name='b', status='running')])); print('segfault, say', file=sys.stderr); sys.exit(139)")
    rows, _ = run.run_json([sys.executable, str(script), str(tmp_path / "r.json")], {}, 60, tmp_path / "r.json")
    status = {r["name"]: r["status"] for r in rows}
    assert status["a"] == "pass" and status["b"] == "fail" and status["(process)"] == "fail"
    assert "exit 139" in rows[1]["detail"] and "segfault, say" in rows[1]["detail"]


def test_report_names_failures(tmp_path):
    rep = dict(dry_run=False, python="python3", date="today", seconds=1.0, machine=dict(host="h", gpus=1, gpu="G"),
               wheels=dict(status="pass", detail="ok"), missing=["pycocotools"],
               checks=[dict(name="autocast_fp16", status="fail", seconds=1, detail="AssertionError: x | y")],
               notebooks=[dict(notebook="tutorials/03_shift.ipynb", status="pass", seconds=3, has_device_parameter=False,
                               device_printed="cuda", parameters={}, detail="")],
               throughput=[dict(model="hrnet_w48", input="288x384", batch=32, precision="bf16", img_per_s=900.0)],
               failures=["check autocast_fp16"])
    md = run.write_report(rep, tmp_path / "report.md")
    assert "1 failed: check autocast_fp16" in md and "Still missing: pycocotools" in md and "x \\| y" in md
    assert "no (tutorial picked cuda)" in md and json.loads((tmp_path / "report.json").read_text())["failures"]


def test_make_target():
    r = subprocess.run(["make", "-n", "gpu-check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "gpu_check/run.py" in r.stdout
