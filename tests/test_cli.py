"""Integration tests of the `infantpose` command as a user runs it: render, train, evaluate, predict.

Each step runs the installed console script in a subprocess on a tiny synthetic set, so these tests exercise the
real entry point, argument parsing, file formats and exit codes, not the functions behind them (the notebooks test those).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "infantpose.cli"]


def run(*args, cwd=None):
    p = subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert p.returncode == 0, f"infantpose {' '.join(map(str, args))} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


def test_help_lists_every_subcommand():
    out = run("--help")
    for cmd in ("synth", "train", "evaluate", "predict", "demo"): assert cmd in out


def test_synth_train_evaluate_predict(work):
    data = work / "infants"
    run("synth", "--domain", "infant", "--n", 8, "--out", data, "--workers", 2, "--seed", 3)
    ann = data / "annotations" / "person_keypoints_train.json"
    gt = json.loads(ann.read_text())
    assert len(gt["images"]) == 8 and all(im["is_synthetic"] for im in gt["images"])

    run_dir = work / "run"
    out = run("train", "--ann", ann, "--out", run_dir, "--epochs", 1, "--batch-size", 4, "--input-size", "64,80",
              "--workers", 0, "--no-pretrained")
    assert (run_dir / "model.pt").exists() and (run_dir / "last.pt").exists(), out

    report_dir = work / "eval"
    out = run("evaluate", "--model", run_dir / "model.pt", "--ann", ann, "--out", report_dir, "--name", "tiny", "--n-boot", 20)
    report = json.loads((report_dir / "tiny.json").read_text())
    assert report["n_images"] == 8 and 0 <= report["AP_box"][0] <= 1 and report["AP_box"][1] <= report["AP_box"][2]
    assert "AP (box area)" in out and (report_dir / "tiny_cases.png").exists()

    pred_dir = work / "pred"
    image = ROOT / "data" / "coco_000000000785.jpg"
    out = run("predict", image, "--model", run_dir / "model.pt", "--out", pred_dir)
    assert "whole image" in out
    preds = json.loads((pred_dir / "predictions.json").read_text())
    assert len(preds) == 1 and len(preds[0]["keypoints"]) == 51 and preds[0]["file_name"] == image.name
    assert (pred_dir / "coco_000000000785_pose.jpg").exists()


def test_bad_input_fails_with_a_message(work):
    p = subprocess.run([*CLI, "evaluate", "--model", work / "nope.pt", "--ann", work / "nope.json"], capture_output=True, text=True)
    assert p.returncode != 0 and "nope.pt" in (p.stderr + p.stdout)
