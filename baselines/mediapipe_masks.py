"""Person masks for a folder of images with MediaPipe's selfie segmentation, for Kp2Seg's F_seg (`infantpose.masks.FolderMasks`).

Runs in its own environment (`.venv-baseline`: `mediapipe==0.10.21`, which pins numpy<2), so it imports nothing from
`infantpose`. Offline: the legacy `mediapipe.solutions.selfie_segmentation.SelfieSegmentation` graph uses the two
models that ship inside the wheel (`mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite`, the general
256x256 model, `--model 0`; `selfie_segmentation_landscape.tflite`, 144x256, `--model 1`); nothing is downloaded.

What it does, per image of `--images` (jpg, jpeg, png):
1. Reads the image as RGB uint8 and runs the graph (static images; the model resizes internally and returns a
   float mask at the image's own resolution, 1 = person).
2. Writes `<out>/<image stem>.png`, greyscale uint8, same size as the image: by default 255 where the mask is
   > `--threshold` (0.5) and 0 elsewhere, the renderer's layout; `--soft` writes round(255 x probability) instead.

The default `--out` is `masks/` beside the images folder (`<images>/../masks`), where `infantpose.masks.FolderMasks`
and `infantpose.datasets.read_coco_keypoints` look. A summary (`_meta.json` in `--out`) records the settings, the
mediapipe version, the run time and each mask's person fraction. Selfie segmentation is trained on people close to
the camera; on small or lying infants it may miss limbs: look at the masks before relying on them.

Usage:
    .venv-baseline/bin/python baselines/mediapipe_masks.py --images path/to/images [--out path/to/masks] [--limit N]
"""
from __future__ import annotations

import argparse, json, os, sys, time
from pathlib import Path

import numpy as np
from PIL import Image

EXTENSIONS = (".jpg", ".jpeg", ".png")


def list_images(folder: str | Path, limit: int | None = None) -> list[Path]:
    "Image files of `folder` (jpg, jpeg, png), sorted by name, at most `limit`."
    folder = Path(folder)
    if not folder.is_dir(): raise FileNotFoundError(f"--images: not a folder: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    if not files: raise FileNotFoundError(f"--images: no .jpg/.jpeg/.png files in {folder}")
    return files[:limit] if limit else files


def to_png(prob: np.ndarray, threshold: float | None) -> np.ndarray:
    "Mask probabilities (H, W) in [0, 1] -> uint8 (H, W): 0/255 above `threshold`, or round(255 p) when `threshold` is None."
    prob = np.nan_to_num(np.asarray(prob, dtype=np.float32), nan=0.0).clip(0, 1)
    if threshold is None: return np.round(prob * 255).astype(np.uint8)
    return np.where(prob > threshold, 255, 0).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="folder of images")
    ap.add_argument("--out", default=None, help="output folder (default: <images>/../masks)")
    ap.add_argument("--model", type=int, default=0, choices=(0, 1), help="0 general (256x256), 1 landscape (144x256)")
    ap.add_argument("--threshold", type=float, default=0.5, help="person where the probability is above this")
    ap.add_argument("--soft", action="store_true", help="write round(255 x probability) instead of a binary mask")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (sorted by name)")
    ap.add_argument("--overwrite", action="store_true", help="rewrite masks that exist")
    a = ap.parse_args(argv)
    # mediapipe imports matplotlib, which rejects a MPLBACKEND inherited from a Jupyter kernel (papermill runs us from one)
    os.environ["MPLBACKEND"] = "Agg"
    import mediapipe as mp                          # only here, so that --help works anywhere

    files = list_images(a.images, a.limit)
    out = Path(a.out) if a.out else Path(a.images).resolve().parent / "masks"
    out.mkdir(parents=True, exist_ok=True)
    t0, meta = time.time(), {}
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=a.model) as seg:
        for p in files:
            dst = out / (p.stem + ".png")
            if dst.exists() and not a.overwrite: meta[p.name] = "exists"; continue
            with Image.open(p) as im: rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            res = seg.process(rgb)
            prob = res.segmentation_mask if res.segmentation_mask is not None else np.zeros(rgb.shape[:2], np.float32)
            if prob.shape != rgb.shape[:2]: raise RuntimeError(f"{p}: mask {prob.shape} does not match image {rgb.shape[:2]}")
            png = to_png(prob, None if a.soft else a.threshold)
            Image.fromarray(png, mode="L").save(dst)
            meta[p.name] = round(float((png > 127).mean()), 4)
    info = dict(images=str(Path(a.images).resolve()), out=str(out.resolve()), model=a.model, threshold=None if a.soft else a.threshold,
                mediapipe=mp.__version__, seconds=round(time.time() - t0, 2), person_fraction=meta)
    (out / "_meta.json").write_text(json.dumps(info, indent=1))
    print(f"{len(files)} images -> {out} in {info['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
