"""Videos through the `infantpose` command as a user runs it, and the smoothing measured on rendered ground truth.

A 12-frame rendered clip is written to mp4 and run through `infantpose predict` in a subprocess with a randomly
initialised EfficientNet-Lite0 (its keypoints mean nothing; the files, their shapes and the exit codes do). The
chapter `16_video` tests the functions behind it.
"""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from infantpose import cli, models
from infantpose.video import (jitter, per_frame_error, person_size, predict_video, read_video, render_motion_clip,
                              smooth_trajectories, video_length, write_video)

CLI = [sys.executable, "-m", "infantpose.cli"]
N_FRAMES, FPS = 12, 12.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    "A rendered clip: (mp4 path, frames (T, H, W, 3), ground truth (T, 17, 3))."
    frames, gt = render_motion_clip(N_FRAMES, seed=4, image_size=(96, 80), n_keys=2)
    path = write_video(frames, tmp_path_factory.mktemp("clip") / "clip.mp4", fps=FPS)
    return path, frames, gt


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    "A randomly initialised EfficientNet-Lite0 model file at 64x80 (what `infantpose train` writes)."
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    return models.save_model(path, models.build_model("effnet_lite0", 17, pretrained=False), "effnet_lite0", input_size=(64, 80))


def test_clip_round_trip(clip):
    path, frames, gt = clip
    it, fps = read_video(path)
    back = np.stack(list(it))
    assert fps == FPS and back.shape == frames.shape == (N_FRAMES, 80, 96, 3) and gt.shape == (N_FRAMES, 17, 3)
    assert np.abs(back.astype(int) - frames).mean() < 8


def test_predict_video_through_the_command(clip, model_file, tmp_path):
    out = tmp_path / "pred"
    p = subprocess.run([*CLI, "predict", str(clip[0]), "--model", str(model_file), "--out", str(out), "--device", "cpu"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"clip.mp4: {N_FRAMES} frames predicted at" in p.stdout and "frames/s" in p.stdout
    assert sorted(f.name for f in out.iterdir()) == ["clip_keypoints.csv", "clip_pose.mp4", "clip_predictions.json",
                                                     "clip_trajectories.png"]
    rows = list(csv.DictReader(open(out / "clip_keypoints.csv")))
    assert len(rows) == N_FRAMES * 17 and list(rows[0]) == ["frame", "joint", "x", "y", "score"]
    assert [int(r["frame"]) for r in rows[::17]] == list(range(N_FRAMES)) and rows[0]["joint"] == "nose"
    preds = json.loads((out / "clip_predictions.json").read_text())
    assert [r["frame"] for r in preds] == list(range(N_FRAMES)) and all(len(r["keypoints"]) == 51 for r in preds)
    assert video_length(out / "clip_pose.mp4") == N_FRAMES
    drawn, fps = read_video(out / "clip_pose.mp4")
    assert fps == FPS and next(drawn).shape == (80, 96, 3)


def test_no_smooth_keeps_the_per_frame_keypoints(clip, model_file, tmp_path):
    "`--no-smooth` writes the per-frame predictions; smoothing changes all but the first frame's confident joints."
    model, meta = models.load_model(model_file)
    raw = predict_video(model, meta, clip[0], smooth=False, progress=False)
    np.testing.assert_array_equal(raw.keypoints, raw.raw_keypoints)
    code = cli.main(["predict", str(clip[0]), "--model", str(model_file), "--out", str(tmp_path), "--device", "cpu", "--no-smooth"])
    rows = list(csv.DictReader(open(tmp_path / "clip_keypoints.csv")))
    assert code == 0
    np.testing.assert_allclose(np.array([[float(r["x"]), float(r["y"])] for r in rows]).reshape(N_FRAMES, 17, 2), raw.keypoints,
                               atol=0.006)
    every = predict_video(model, meta, clip[0], smooth=True, min_score=0.0, progress=False)   # a random model's scores are low:
    np.testing.assert_allclose(every.keypoints[0], every.raw_keypoints[0])                    # count every joint as confident
    assert not np.allclose(every.keypoints[1:], every.raw_keypoints[1:])


def test_unreadable_video_is_one_line(tmp_path, model_file, capsys):
    bad = tmp_path / "broken.mp4"; bad.write_bytes(b"\x00" * 100)
    code = cli.main(["predict", str(bad), "--model", str(model_file), "--out", str(tmp_path / "pred")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"infantpose predict: {bad}: cannot read the video (") and err.count("\n") == 1
    assert not (tmp_path / "pred").exists()


def test_smoothing_lowers_jitter_on_ground_truth_plus_noise(clip):
    "The clip's exact keypoints plus 2 % (of the person's size) noise: the 1€ filter lowers the jitter and the error."
    _, _, gt = clip
    size = person_size(gt[..., :2], gt[..., 2])
    noisy = gt[..., :2] + np.random.default_rng(0).normal(0, 0.02 * size, gt[..., :2].shape)
    smooth = smooth_trajectories(noisy, FPS)
    assert jitter(smooth) < 0.6 * jitter(noisy)
    assert np.nanmean(per_frame_error(smooth, gt)) < np.nanmean(per_frame_error(noisy, gt))


def test_import_infantpose_stays_light():
    code = ("import sys, infantpose; assert 'torch' not in sys.modules, 'torch at import'; "
            "from infantpose import Pose; print(Pose.__module__)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "infantpose.api"
