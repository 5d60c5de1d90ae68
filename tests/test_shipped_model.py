"""The model that ships with infantpose, used as a person would on a fresh clone: no SyRIP, no `--model`.

`infantpose predict` runs on real infant photos (two SyRIP images from the shared data, which stay outside the
repository) and on a rendered video, and writes its drawings, COCO results, CSV and trajectories; `infantpose models`
prints the card. The numbers of the card itself are reproduced by `nbs/experiments/default_model.ipynb`.
"""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from infantpose.api import default_model_path
from infantpose.datasets import syrip_split
from infantpose.video import render_motion_clip, write_video

CLI = [sys.executable, "-m", "infantpose.cli"]


def test_the_model_and_its_card_ship():
    path = default_model_path()
    assert path is not None, "data/models/default_model.pt is missing: run nbs/experiments/default_model.ipynb with ship_dir"
    assert path.stat().st_size < 10e6, f"{path}: {path.stat().st_size / 1e6:.1f} MB, expected a compact file"
    p = subprocess.run([*CLI, "models"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for words in ("default_model.pt", "## Numbers on 50 real infants", "found by the model", "## Licence", "Not a medical device"):
        assert words in p.stdout, f"the card printed by `infantpose models` lacks {words!r}"
    assert "STAND-IN" not in p.stdout


def test_predict_real_photos_without_a_model_or_boxes(tmp_path):
    records = syrip_split("val")[:2]
    out = tmp_path / "pred"
    p = subprocess.run([*CLI, "predict", *(str(r.image_path) for r in records), "--out", str(out), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "finding the person" in p.stdout
    results = json.loads((out / "predictions.json").read_text())
    assert len(results) == 2 and all(len(r["keypoints"]) == 51 and len(r["bbox"]) == 4 for r in results)
    assert all((out / f"{r.image_path.stem}_pose.jpg").is_file() for r in records)
    # the joints land on the infant: most of them inside its ground-truth box, enlarged by a fifth
    by_name = {res["file_name"].split("/")[-1]: res for res in results}
    for r in records:
        res, (x, y, w, h) = by_name[r.image_path.name], r.box
        kp = np.asarray(res["keypoints"], float).reshape(17, 3)[:, :2]
        inside = (kp[:, 0] > x - 0.1 * w) & (kp[:, 0] < x + 1.1 * w) & (kp[:, 1] > y - 0.1 * h) & (kp[:, 1] < y + 1.1 * h)
        assert inside.mean() >= 0.7, f"{r.image_path.name}: only {inside.sum()} of 17 joints inside the infant's box"


def test_predict_a_rendered_video_without_a_model(tmp_path):
    frames, gt = render_motion_clip(10, seed=2, image_size=(160, 128), n_keys=2)
    clip = write_video(frames, tmp_path / "clip.mp4", fps=10.0)
    out = tmp_path / "pred"
    p = subprocess.run([*CLI, "predict", str(clip), "--out", str(out), "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in out.iterdir()) == ["clip_keypoints.csv", "clip_pose.mp4", "clip_predictions.json",
                                                     "clip_trajectories.png"]
    rows = list(csv.DictReader(open(out / "clip_keypoints.csv")))
    assert len(rows) == 10 * 17
    kp = np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(10, 17, 2)
    err = np.linalg.norm(kp - gt[..., :2], axis=-1)[gt[..., 2] > 0]
    assert np.median(err) < 0.15 * 128, f"median joint error {np.median(err):.1f} px on a 160x128 clip"


def test_the_real_data_chain_is_one_make_target():
    "`make syrip-model SYRIP=...` runs the benchmark's training chain through its notebook (a dry run here: ~21 CPU minutes)."
    p = subprocess.run(["make", "-n", "syrip-model", "SYRIP=/data/syrip"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "SYRIP_TRAIN200=/data/syrip" in p.stdout and "-p train True" in p.stdout and "real_infant_benchmark.ipynb" in p.stdout
    p = subprocess.run(["make", "syrip-model"], capture_output=True, text=True, timeout=600)
    assert p.returncode != 0 and "usage: make syrip-model SYRIP=" in p.stdout


def test_the_cards_two_commands_run_one_after_the_other(tmp_path):
    "The card's evaluate commands (shipped model, ground-truth boxes then --no-boxes) write two reports side by side."
    from infantpose.paths import syrip_train200_dir, data_dir
    ann = syrip_train200_dir() / "annotations" / "person_keypoints_train_infant.json"
    base = [*CLI, "evaluate", "--ann", str(ann), "--splits", str(data_dir() / "syrip_split.json"), "--split", "val",
            "--out", str(tmp_path), "--n-boot", "20", "--device", "cpu"]
    for extra in ([], ["--no-boxes"]):
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr
    assert (tmp_path / "default_model.json").is_file() and (tmp_path / "default_model_no_boxes.json").is_file()
    assert json.loads((tmp_path / "default_model_no_boxes.json").read_text())["boxes"] == "found by the model"
