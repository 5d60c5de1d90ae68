"""DataLoader throughput of the top-down sample pipeline: samples per second with 0, 1 and 2 workers.

Writes a few hundred synthetic images with a COCO-keypoints json to a temporary folder (through
`infantpose.synthetic.write_dataset` when it exists, else random images with random poses), then times full
augmented passes of `TopDownDataset` (192x256 crops, 48x64 heatmaps). Prints one line per worker count.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loader_speed.py [--n 256] [--batch 32] [--workers 0 1 2]
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from infantpose.datasets import read_coco_keypoints
from infantpose.pipeline import AugmentConfig, TopDownDataset


def random_coco(root: Path, n: int, size=(384, 512), seed: int = 0) -> Path:
    "n random smooth-noise images (W, H) = size, one random 17-joint person each, as a COCO json; returns the json path."
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    W, H = size
    images, anns = [], []
    for i in range(n):
        small = (rng.random((H // 16, W // 16, 3)) * 255).astype(np.uint8)
        Image.fromarray(small).resize((W, H), Image.BILINEAR).save(root / "images" / f"{i:05d}.jpg", quality=90)
        c = rng.uniform([0.3 * W, 0.3 * H], [0.7 * W, 0.7 * H])
        kp = c + rng.normal(0, [0.12 * W, 0.2 * H], (17, 2))
        x0, y0 = kp.min(0); x1, y1 = kp.max(0)
        images.append({"id": i, "file_name": f"{i:05d}.jpg", "width": W, "height": H, "is_synthetic": True})
        anns.append({"id": i, "image_id": i, "category_id": 1, "iscrowd": 0, "num_keypoints": 17,
                     "keypoints": np.c_[kp, np.full(17, 2)].reshape(-1).round(2).tolist(),
                     "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]})
    (root / "annotations").mkdir()
    path = root / "annotations" / "person_keypoints_bench.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    return path


def make_set(root: Path, n: int) -> Path:
    try:
        from infantpose.synthetic import write_dataset
    except ImportError:
        return random_coco(root, n)
    write_dataset(root, domain="infant", n=n, fmt="coco", seed=0, workers=2)
    return next((root / "annotations").glob("person_keypoints_*.json"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="number of images")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--random-images", action="store_true", help="skip the synthetic renderer even if it exists")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        js = random_coco(Path(tmp), a.n) if a.random_images else make_set(Path(tmp), a.n)
        recs = read_coco_keypoints(js)
        print(f"{len(recs)} samples written and read in {time.perf_counter() - t:.1f} s ({js.name})")
        ds = TopDownDataset(recs, augment=AugmentConfig(), seed=0)
        base = None
        for w in a.workers:
            dl = DataLoader(ds, batch_size=a.batch, num_workers=w, shuffle=False, persistent_workers=False)
            t0 = time.perf_counter(); n = 0; t_first = None
            for b in dl:
                n += len(b["image"])
                if t_first is None: t_first = time.perf_counter()
            dt = time.perf_counter() - t0
            steady = (n - a.batch) / max(time.perf_counter() - t_first, 1e-9) if n > a.batch else float("nan")
            base = base or n / dt
            print(f"workers={w}: {n / dt:7.1f} samples/s over the epoch ({steady:7.1f} after the first batch), "
                  f"x{n / dt / base:.2f} vs {a.workers[0]} workers")


if __name__ == "__main__":
    main()
