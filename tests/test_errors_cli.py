"""Bad input to the `infantpose` command: one line naming the file and the field (or the option), exit status 2, and
nothing lost or silently wrong.

Most cases call `infantpose.cli.main` in this process (fast); one runs the real console entry point in a subprocess.
Bad annotation files are made from the good `fixtures/coco` set in a temporary folder; bad split and boxes files are
in `fixtures/bad_input`. Training runs are one or two steps of a randomly initialised EfficientNet-Lite0 on 64x80 crops.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from infantpose import checks, cli, models

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures"
BAD = FIX / "bad_input"
IMAGE = ROOT / "data" / "coco_000000000785.jpg"
TINY = ["--no-pretrained", "--epochs", 1, "--batch-size", 2, "--input-size", "64,80", "--workers", 0, "--device", "cpu",
        "--warmup-steps", 0]


def run(capsys, *argv):
    "Run `infantpose ARGV` in this process: (exit status, stdout, stderr)."
    try: code = cli.main([str(a) for a in argv])
    except SystemExit as e: code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str, command: str) -> str:
    "The single error line of `err` (after any counted warning lines), checked to be the command's one-line error."
    lines = [l for l in err.splitlines() if not l.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith(f"infantpose {command}: "), err
    assert "Traceback" not in err
    return lines[0]


def coco_copy(tmp: Path, mutate=None, name="set") -> Path:
    "A copy of the COCO fixture under `tmp/name` with `mutate(data, root)` applied to its json; returns the json path."
    root = tmp / name
    shutil.copytree(FIX / "coco", root)
    ann = root / "annotations" / "person_keypoints_train_infant.json"
    if mutate:
        d = json.loads(ann.read_text()); mutate(d, root); ann.write_text(json.dumps(d))
    return ann


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    "A randomly initialised EfficientNet-Lite0 model file at 64x80 (what `infantpose train` writes)."
    path = tmp_path_factory.mktemp("model") / "run" / "model.pt"
    torch.manual_seed(0)
    models.save_model(path, models.build_model("effnet_lite0", 17, pretrained=False), "effnet_lite0", input_size=(64, 80))
    return path


def unwritable(tmp: Path) -> Path:
    "A folder no file can be written in (a read-only folder; as root, a sysfs folder); skips when there is none."
    d = tmp / "read_only"; d.mkdir(); d.chmod(0o500)
    for cand in (d, Path("/sys/kernel")):
        try:
            with tempfile.TemporaryFile(dir=cand): pass
        except OSError: return cand
    pytest.skip("no unwritable folder on this machine")


# --- bad annotation files: one line naming file, entry and field; before any work -----------------------------------

def _inf(d, root): d["annotations"][1]["keypoints"][0] = float("inf")
def _string(d, root): d["annotations"][1]["keypoints"][4] = "33.5"
def _no_id(d, root): d["images"][1].pop("id")
def _dup_id(d, root): d["images"][2]["id"] = d["images"][0]["id"]
def _far_kp(d, root): d["annotations"][0]["keypoints"][1] = 5000.0
def _far_box(d, root): d["annotations"][0]["bbox"] = [900.0, 10.0, 50.0, 50.0]
def _truncated(d, root):
    p = root / "images" / "train00002.jpg"; p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

CASES = {
    "infinite_keypoint": (_inf, "annotation 102: non-finite values (keypoints: x of joint 0 (nose) is inf)"),
    "string_for_number": (_string, "annotation 102: not a number (keypoints[4] is '33.5', expected a number)"),
    "image_without_id": (_no_id, "images[1]: image without id (file_name 'train00002.jpg')"),
    "duplicate_image_id": (_dup_id, "images[2]: duplicate image id (id 1 is used by images[0] and images[2])"),
    "keypoint_far_outside": (_far_kp, "annotation 101: keypoints far outside the image (joint 0 (nose) at"),
    "box_far_outside": (_far_box, "annotation 101: box far outside the image (bbox [900.0, 10.0, 50.0, 50.0] in a 96x64 image)"),
    "truncated_jpeg": (_truncated, "annotation 102: unreadable image ("),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_annotations_fail_in_one_line_before_training(case, tmp_path, capsys):
    mutate, expected = CASES[case]
    ann = coco_copy(tmp_path, mutate)
    code, _, err = run(capsys, "train", "--ann", ann, "--out", tmp_path / "run", *TINY)
    line = one_line(err, "train")
    assert code == 2 and line.startswith(f"infantpose train: {ann}: ") and expected in line, line
    assert not (tmp_path / "run").exists()                      # refused before the run folder was even made
    if case == "truncated_jpeg": assert "truncated" in line


def test_debug_shows_the_traceback_and_bugs_still_raise(tmp_path, capsys, monkeypatch):
    ann = coco_copy(tmp_path, _inf)
    with pytest.raises(ValueError, match="non-finite values"):
        cli.main(["train", "--ann", str(ann), "--out", str(tmp_path / "run"), "--debug"])
    monkeypatch.setattr(cli, "split_records", lambda *a, **k: {}["a bug"])
    with pytest.raises(KeyError): cli.main(["train", "--ann", str(ann), "--out", str(tmp_path / "run")])


def test_console_command_prints_one_line_and_exits_2(tmp_path):
    ann = coco_copy(tmp_path, _inf)
    p = subprocess.run([sys.executable, "-m", "infantpose.cli", "train", "--ann", str(ann), "--out", str(tmp_path / "run")],
                       capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert p.returncode == 2 and p.stderr.splitlines() == [
        f"infantpose train: {ann}: annotation 102: non-finite values (keypoints: x of joint 0 (nose) is inf)"], p.stderr


# --- split files ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("splits, split, expected", [
    ("splits_list.json", "train", "splits_list.json: expected a json object {split name: [image ids]}, got a list"),
    ("splits_malformed.json", "train", "splits_malformed.json: not a json file"),
    ("splits_seed.json", "seed", "splits_seed.json: split 'seed' is int 7, not a list of image ids; its splits are ['train', 'test']"),
    ("splits_seed.json", "val", "splits_seed.json: no split 'val'; its splits are ['train', 'test']"),
])
def test_bad_split_files(splits, split, expected, tmp_path, capsys):
    ann = coco_copy(tmp_path)
    code, _, err = run(capsys, "train", "--ann", ann, "--splits", BAD / splits, "--split", split, "--out", tmp_path / "run", *TINY)
    assert code == 2 and expected in one_line(err, "train")


# --- synth ---------------------------------------------------------------------------------------------------------

def test_synth_refuses_a_non_empty_out_and_overwrite_replaces_it_whole(tmp_path, capsys):
    out, small = tmp_path / "set", ["--domain", "infant", "--size", "64,64"]
    assert run(capsys, "synth", *small, "--n", 3, "--out", out)[0] == 0
    code, _, err = run(capsys, "synth", *small, "--n", 1, "--out", out, "--seed", 5)
    assert code == 2 and f"--out {out} is not empty: give --overwrite" in one_line(err, "synth")
    assert len(list((out / "images").iterdir())) == 3                     # untouched
    assert run(capsys, "synth", *small, "--n", 1, "--out", out, "--seed", 5, "--overwrite")[0] == 0
    gt = json.loads((out / "annotations" / "person_keypoints_train.json").read_text())
    assert len(gt["images"]) == 1 and len(list((out / "images").iterdir())) == 1 == len(list((out / "masks").iterdir()))
    assert not list(tmp_path.glob(".set.synth*"))                       # no temporary left beside it
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "notes.txt").write_text("keep me")
    code, _, err = run(capsys, "synth", *small, "--n", 1, "--out", mine, "--overwrite")
    assert code == 2 and "holds files that synth does not write" in one_line(err, "synth")
    assert (mine / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("option, expected", [
    (["--size", "1,1"], "--size 1,1: each side must be at least 32 pixels"),
    (["--size", "100000,100000"], "--size 100000,100000: rendering with 1 worker(s) needs about 3725.3 GiB of memory"),
    (["--workers", "-2"], "argument --workers: expected a whole number >= 0, got '-2'"),
    (["--n", "0"], "argument --n: expected a whole number >= 1, got '0'"),
])
def test_synth_refuses_what_it_cannot_render(option, expected, tmp_path, capsys):
    args = dict(zip(["--n", "--size", "--workers"], ["1", "64,64", "1"]))
    args.update(dict(zip(option[::2], option[1::2])))
    code, _, err = run(capsys, "synth", "--domain", "adult", "--out", tmp_path / "set", *[x for kv in args.items() for x in kv])
    assert code == 2 and expected in one_line(err, "synth")
    assert not (tmp_path / "set").exists()


# --- predict -------------------------------------------------------------------------------------------------------

def test_predict_keeps_one_output_per_input(tmp_path, capsys, model_file):
    for sub in ("a", "b"): (tmp_path / sub).mkdir(); shutil.copy(IMAGE, tmp_path / sub / "x.jpg")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps([{"file_name": "a/x.jpg", "bbox": [10, 10, 200, 300]}, {"file_name": "a/x.jpg", "bbox": [300, 50, 150, 300]},
                                 {"file_name": "b/x.jpg", "bbox": [0, 0, 300, 400]}, {"file_name": "c/x.jpg", "bbox": [0, 0, 5, 5]}]))
    code, out, err = run(capsys, "predict", tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", "--model", model_file,
                         "--out", tmp_path / "pred", "--boxes", boxes)
    assert code == 0, err
    assert err.strip() == f"warning: --boxes {boxes}: 1 entries match no input image and are ignored (c/x.jpg)"
    assert (tmp_path / "pred" / "a" / "x_pose.jpg").is_file() and (tmp_path / "pred" / "b" / "x_pose.jpg").is_file()
    preds = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert [p["file_name"] for p in preds] == ["a/x.jpg", "a/x.jpg", "b/x.jpg"]


@pytest.mark.parametrize("boxes, expected", [
    ("boxes_malformed.json", "boxes_malformed.json: not a json file"),
    ("boxes_bad_entry.json", "boxes_bad_entry.json: entry 0 (coco_000000000785.jpg): bbox is [0, 0, '640', 425], expected four numbers"),
    ("boxes_no_match.json", "boxes_no_match.json: no box for 1 of the 1 images (coco_000000000785.jpg)"),
])
def test_predict_bad_boxes(boxes, expected, tmp_path, capsys, model_file):
    code, _, err = run(capsys, "predict", IMAGE, "--model", model_file, "--out", tmp_path / "pred", "--boxes", BAD / boxes)
    assert code == 2 and expected in one_line(err, "predict")
    assert not (tmp_path / "pred").exists()


def test_predict_truncated_image(tmp_path, capsys, model_file):
    cut = tmp_path / "cut.jpg"; cut.write_bytes(IMAGE.read_bytes()[:5000])
    code, _, err = run(capsys, "predict", cut, "--model", model_file, "--out", tmp_path / "pred")
    assert code == 2 and f"{cut}: cannot read the image (image file is truncated" in one_line(err, "predict")


def test_full_disk_names_the_file_and_the_cause(tmp_path, capsys, model_file, monkeypatch):
    out = tmp_path / "pred"; out.mkdir()
    (out / "coco_000000000785_pose.jpg").symlink_to("/dev/full")             # writes there fail with ENOSPC
    code, _, err = run(capsys, "predict", IMAGE, "--model", model_file, "--out", out)
    assert code == 2 and one_line(err, "predict") == f"infantpose predict: {out / 'coco_000000000785_pose.jpg'}: No space left on device"
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 2**20, 2**20))
    code, _, err = run(capsys, "train", "--ann", coco_copy(tmp_path), "--out", tmp_path / "run", *TINY)
    assert code == 2 and "no space left on the device for the checkpoints and model of this run (1 MiB free" in one_line(err, "train")
    assert not (tmp_path / "run" / "last.pt").exists()


# --- evaluate ------------------------------------------------------------------------------------------------------

def test_evaluate_keeps_an_earlier_report_unless_overwrite(tmp_path, capsys, model_file):
    ann, rep = coco_copy(tmp_path), tmp_path / "reports"
    args = ["evaluate", "--model", model_file, "--ann", ann, "--out", rep, "--name", "m", "--n-boot", 5]
    assert run(capsys, *args)[0] == 0
    before = (rep / "m.json").read_text()
    code, _, err = run(capsys, *args[:-2], "--n-boot", 7)
    assert code == 2 and f"a report named 'm' is already there ({rep / 'm.json'}): give --overwrite" in one_line(err, "evaluate")
    assert (rep / "m.json").read_text() == before
    assert run(capsys, *args, "--overwrite")[0] == 0


def test_n_boot_zero(tmp_path, capsys, model_file):
    code, _, err = run(capsys, "evaluate", "--model", model_file, "--ann", coco_copy(tmp_path), "--n-boot", 0)
    assert code == 2 and "argument --n-boot: expected a whole number >= 1, got '0'" in one_line(err, "evaluate")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_unwritable_out_is_refused_before_the_model_runs(command, tmp_path, capsys, model_file, monkeypatch):
    ro = unwritable(tmp_path)
    def too_late(*a, **k): raise AssertionError("the model was loaded before --out was checked")
    monkeypatch.setattr(models, "load_model", too_late)
    argv = ["--ann", coco_copy(tmp_path)] if command == "evaluate" else [IMAGE]
    code, _, err = run(capsys, command, *argv, "--model", model_file, "--out", ro)
    assert code == 2 and f"--out {ro}: cannot write there" in one_line(err, command)


# --- train: --init, seeding, the run's fingerprint -------------------------------------------------------------------

def test_init_of_another_model_is_refused(tmp_path, capsys, model_file):
    code, _, err = run(capsys, "train", "--ann", coco_copy(tmp_path), "--out", tmp_path / "run", "--model", "resnet18",
                       "--init", model_file, *TINY)
    assert code == 2 and f"--init {model_file} holds model 'effnet_lite0', but --model is 'resnet18'" in one_line(err, "train")
    assert not (tmp_path / "run" / "last.pt").exists()


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_the_same_command_gives_the_same_weights(tmp_path, capsys):
    ann = coco_copy(tmp_path)
    for i, run_dir in enumerate(("one", "two")):
        torch.manual_seed(100 + i)                                       # whatever the caller's random state
        code, _, err = run(capsys, "train", "--ann", ann, "--out", tmp_path / run_dir, "--seed", 3, *TINY)
        assert code == 0, err
    a, b = _weights(tmp_path / "one" / "model.pt"), _weights(tmp_path / "two" / "model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_folder_resumes_only_the_same_run(tmp_path, capsys):
    ann, run_dir = coco_copy(tmp_path), tmp_path / "run"
    assert run(capsys, "train", "--ann", ann, "--out", run_dir, *TINY)[0] == 0
    first = _weights(run_dir / "model.pt")
    other = coco_copy(tmp_path, lambda d, r: d["annotations"][0]["keypoints"].__setitem__(0, 40.0), "other")
    for argv, field in [(["--ann", other], "annotations: "), (["--ann", ann, "--input-size", "96,128"], "input_size: [64, 80] -> [96, 128]"),
                        (["--ann", ann, "--lr", "0.01"], "lr: 0.001 -> 0.01")]:
        tiny = TINY if "--input-size" not in argv else TINY[:5] + TINY[7:]
        code, _, err = run(capsys, "train", *argv, "--out", run_dir, *tiny)
        line = one_line(err, "train")
        assert code == 2 and field in line and "--restart" in line, line
        assert all(torch.equal(first[k], v) for k, v in _weights(run_dir / "model.pt").items())   # the old model is kept
    code, _, err = run(capsys, "train", "--ann", ann, "--out", run_dir, "--input-size", "96,128", "--restart", *TINY[:5], *TINY[7:])
    assert code == 0, err
    assert torch.load(run_dir / "model.pt", weights_only=True)["meta"]["input_size"] == [96, 128]
    assert run(capsys, "train", "--ann", ann, "--out", run_dir, "--input-size", "96,128", *TINY[:5], *TINY[7:])[0] == 0   # resumes
