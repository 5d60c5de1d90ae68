"""Off-the-shelf adult baseline: MediaPipe BlazePose ("full" landmark model) on the ground-truth boxes of a COCO keypoint file.

Runs in its own environment (`.venv-baseline`: `mediapipe==0.10.21`, which pins numpy<2), so it imports nothing from
`infantpose`. `make baseline` creates that environment and runs this script; `baselines/evaluate_baseline.py` scores
its output in the project's `.venv`.

What it does, per annotation of the chosen split:
1. Crop: the ground-truth box [x, y, w, h] enlarged 1.25x about its centre and made square (side 1.25 * max(w, h)),
   taken at the image's own resolution on the integer pixel grid (no resampling); the parts of the square outside
   the image are filled with zeros (black).
2. Model: the legacy `mediapipe.solutions.pose.Pose` graph (static_image_mode=True, model_complexity=1, i.e. the
   "full" landmark model `pose_landmark_full.tflite` that ships in the wheel; complexity 0 and 2 would download their
   models and are not offline). The graph first runs BlazePose's person detector on the crop, then the landmark model
   on the region it found. If the detector finds nobody, there is no pose: the annotation is a miss (no result entry).
   The tasks API (`mediapipe.tasks.vision.PoseLandmarker`) needs a `.task` bundle that the wheel does not ship.
3. Keypoints: MediaPipe's 33 landmarks -> COCO-17 (nose 0, eyes 2 / 5, ears 7 / 8, shoulders 11 / 12, elbows 13 / 14,
   wrists 15 / 16, hips 23 / 24, knees 25 / 26, ankles 27 / 28). MediaPipe's LEFT_* is the person's own left, as in
   COCO and SyRIP (checked by `evaluate_baseline.py`, which also scores the left/right-swapped prediction).
   Landmarks are normalised to the crop ([0, 1] spans the crop's outer edges), so a crop pixel is
   x = x_norm * side - 0.5 (integer = pixel centre, the project's convention), and the image pixel adds the crop's
   integer offset.
4. Scores: each keypoint's score is its landmark visibility; the pose score is the mean visibility of the 17 mapped
   landmarks.

Outputs: a COCO keypoint results json (list of {image_id, category_id, keypoints [17 x (x, y, visibility)], score})
and, beside it, `<output stem>_meta.json` with the annotations and images without a detection, the run time and the
settings. The model is deterministic on CPU: two runs give identical files.
"""
from __future__ import annotations

import argparse, json, os, platform, sys, time
from pathlib import Path

import numpy as np
from PIL import Image

# MediaPipe Pose landmark index for each COCO-17 keypoint (COCO order: nose, left_eye, right_eye, left_ear, right_ear,
# left_shoulder, right_shoulder, left_elbow, right_elbow, left_wrist, right_wrist, left_hip, right_hip, left_knee,
# right_knee, left_ankle, right_ankle).
MP_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
ENLARGE = 1.25


def load_split(split_file: str | Path, split: str) -> list[int]:
    "Image ids of `split` ('train', 'val', 'test' or 'all' for every image of the split file) from a splits.json."
    d = json.loads(Path(split_file).read_text())
    if split == "all": return sorted({i for k in ("train", "val", "test") for i in d.get(k, [])})
    if split not in d or not isinstance(d[split], list):
        raise ValueError(f"split: {split!r} is not a list in {split_file} (keys: {sorted(d)})")
    return [int(i) for i in d[split]]


def square_crop_box(bbox, enlarge: float = ENLARGE) -> tuple[int, int, int]:
    """COCO box [x, y, w, h] (in the keypoints' frame: it spans [x, x + w] x [y, y + h]) -> integer square crop
    (x0, y0, side): side = ceil(enlarge * max(w, h)), centred on the box centre to the nearest pixel.
    Crop pixel (i, j) is image pixel (x0 + i, y0 + j); the crop spans [x0 - 0.5, x0 + side - 0.5] in image pixels."""
    x, y, w, h = map(float, bbox)
    if not (w > 0 and h > 0): raise ValueError(f"bbox: {list(bbox)} has no positive width and height")
    side = int(np.ceil(enlarge * max(w, h)))
    cx, cy = x + w / 2, y + h / 2
    # the crop's centre is x0 + side / 2 - 0.5: round x0 = cx - side / 2 + 0.5 to the nearest integer (ties up)
    x0, y0 = int(np.floor(cx - side / 2 + 1.0)), int(np.floor(cy - side / 2 + 1.0))
    return x0, y0, side


def crop_square(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    "image (H, W, 3) uint8 -> crop (side, side, 3) uint8 of pixels [x0, x0 + side) x [y0, y0 + side), zeros outside the image."
    H, W = image.shape[:2]
    out = np.zeros((side, side, 3), np.uint8)
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + side, W), min(y0 + side, H)
    if xb > xa and yb > ya: out[ya - y0:yb - y0, xa - x0:xb - x0] = image[ya:yb, xa:xb]
    return out


def landmarks_to_coco17(landmarks, x0: int, y0: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    "MediaPipe NormalizedLandmarkList (33) on a square crop -> COCO-17 keypoints (17, 2) in image pixels and visibilities (17,)."
    lm = landmarks.landmark
    if len(lm) != 33: raise ValueError(f"landmarks: {len(lm)} landmarks, expected 33 (BlazePose)")
    xy = np.array([[lm[i].x, lm[i].y] for i in MP_TO_COCO17], float) * side - 0.5 + np.array([x0, y0], float)
    vis = np.array([lm[i].visibility for i in MP_TO_COCO17], float)
    return xy, vis


def make_pose(min_detection_confidence: float = 0.5):
    "The legacy MediaPipe Pose graph with the shipped 'full' landmark model, for unrelated still images."
    import mediapipe as mp
    return mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, smooth_landmarks=False,
                                  enable_segmentation=False, min_detection_confidence=min_detection_confidence)


def run(gt_file: Path, image_dir: Path, image_ids: list[int], min_detection_confidence: float = 0.5,
        progress: bool = True) -> tuple[list, dict]:
    "Run BlazePose on every annotation of `image_ids`: (COCO results list, meta dict with misses and timings)."
    gt = json.loads(Path(gt_file).read_text())
    images = {im["id"]: im for im in gt["images"]}
    missing = [i for i in image_ids if i not in images]
    if missing: raise ValueError(f"image ids {missing[:5]} (of {len(missing)}) are not in {gt_file}")
    wanted = set(image_ids)
    anns = sorted((a for a in gt["annotations"] if a["image_id"] in wanted and not a.get("iscrowd", 0)),
                  key=lambda a: (a["image_id"], a["id"]))
    t0 = time.perf_counter()
    pose = make_pose(min_detection_confidence)
    t_load = time.perf_counter() - t0
    try:
        from tqdm import tqdm
        it = tqdm(anns, desc="blazepose", unit="ann", disable=not progress, file=sys.stderr)
    except ImportError:
        it = anns
    results, misses, t_model = [], [], 0.0
    t1 = time.perf_counter()
    with pose:
        for a in it:
            im = images[a["image_id"]]
            path = Path(image_dir) / im["file_name"]
            if not path.exists(): raise FileNotFoundError(f"image of annotation {a['id']} (image {im['id']}) not found: {path}")
            img = np.asarray(Image.open(path).convert("RGB"))
            x0, y0, side = square_crop_box(a["bbox"])
            crop = np.ascontiguousarray(crop_square(img, x0, y0, side))
            t = time.perf_counter()
            out = pose.process(crop)
            t_model += time.perf_counter() - t
            if out.pose_landmarks is None:
                misses.append(dict(annotation_id=a["id"], image_id=a["image_id"], file_name=im["file_name"]))
                continue
            xy, vis = landmarks_to_coco17(out.pose_landmarks, x0, y0, side)
            kps = np.concatenate([xy, vis[:, None]], 1).reshape(-1)
            results.append(dict(image_id=a["image_id"], category_id=a.get("category_id", 1),
                                keypoints=[round(float(v), 3) for v in kps], score=round(float(vis.mean()), 6)))
    t_total = time.perf_counter() - t1
    import mediapipe as mp
    meta = dict(model="MediaPipe BlazePose, legacy mp.solutions.pose, model_complexity=1 (pose_landmark_full.tflite from the wheel)",
                mediapipe=mp.__version__, numpy=np.__version__, python=platform.python_version(),
                crop=f"GT box enlarged {ENLARGE}x about its centre, squared (side = ceil({ENLARGE} * max(w, h))), image resolution, zero fill outside the image",
                min_detection_confidence=min_detection_confidence, score="mean visibility of the 17 mapped landmarks",
                n_images=len(wanted), n_annotations=len(anns), n_detections=len(results), n_misses=len(misses),
                missed_image_ids=sorted({m["image_id"] for m in misses}), misses=misses,
                seconds_model_load=round(t_load, 3), seconds_total=round(t_total, 3), seconds_model=round(t_model, 3),
                seconds_per_annotation=round(t_total / max(len(anns), 1), 4))
    return results, meta


def default_data_dir() -> Path:
    "The SyRIP folder as `infantpose.paths.syrip_train200_dir` finds it: $SYRIP_TRAIN200, else $INFANTPOSE_SHARED_DATA or ../shared/data."
    if os.environ.get("SYRIP_TRAIN200"): return Path(os.environ["SYRIP_TRAIN200"])
    shared = os.environ.get("INFANTPOSE_SHARED_DATA") or Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return Path(shared) / "syrip_real_train200"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Example: .venv-baseline/bin/python baselines/blazepose.py --split test "
                                       "--out outputs/baseline/blazepose_test.json")
    data = default_data_dir()
    p.add_argument("--gt", type=Path, default=data / "annotations" / "person_keypoints_train_infant.json",
                   help="COCO keypoint json with the ground-truth boxes to crop (default: %(default)s)")
    p.add_argument("--images", type=Path, default=data / "images",
                   help="folder holding the images named by the json's file_name (default: %(default)s)")
    p.add_argument("--splits", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "syrip_split.json",
                   help="json with lists of image ids per split (default: %(default)s)")
    p.add_argument("--split", default="test", help="which list of --splits to run: train, val, test or all (default: %(default)s)")
    p.add_argument("--out", type=Path, required=True,
                   help="COCO results json to write; the misses and timings go to <stem>_meta.json beside it")
    p.add_argument("--min-detection-confidence", type=float, default=0.5,
                   help="BlazePose person-detector threshold; below it the crop counts as a miss (default: %(default)s, MediaPipe's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    for what, path in [("--gt", a.gt), ("--images", a.images), ("--splits", a.splits)]:
        if not path.exists(): raise SystemExit(f"{what}: not found: {path}")
    ids = load_split(a.splits, a.split)
    results, meta = run(a.gt, a.images, ids, a.min_detection_confidence, progress=not a.no_progress)
    meta.update(gt=str(a.gt), split=a.split, splits=str(a.splits))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=1) + "\n")
    meta_path = a.out.with_name(a.out.stem + "_meta.json")
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{a.split}: {meta['n_detections']} / {meta['n_annotations']} annotations with a pose, {meta['n_misses']} miss(es) "
          f"{meta['missed_image_ids']}; {meta['seconds_total']:.1f} s ({meta['seconds_per_annotation'] * 1000:.0f} ms / annotation)"
          f" -> {a.out}, {meta_path}")


if __name__ == "__main__":
    main()
