"""Per-image inference time of the default pose network (EfficientNet-Lite0, top-down 192x256) against MediaPipe
BlazePose on the same images of this CPU.

Both start from the decoded image in memory and the person's ground-truth box (file reading and JPEG decoding are
left out) and end with keypoints in image pixels:
- ours, as `evaluate.predict_topdown` does it for one person: crop matrix (`geometry.box_to_center_size`, padding 1.25,
  `crop_matrix`), `pipeline.warp_crop`, the network (channels-last, eval, `inference_mode`, in fp32 or under the engine's
  bf16 `autocast`; with `--compile` also `torch.compile`d with inductor's weight freezing), optionally the flipped image too (`--flip`, `predict_topdown`'s default; merged by
  `codecs.merge_flip`), DARK decoding (`HeatmapCodec.decode`) and the inverse crop matrix; batch 1 (one person);
- BlazePose, as `baselines/blazepose.py` does it: the square crop of the enlarged box, `Pose.process` (person detector +
  "full" landmark model, static image mode), landmarks -> COCO-17 in image pixels. It runs in `.venv-baseline`
  (mediapipe 0.10.21, `make .venv-baseline/.installed`) as a subprocess of this script; its CPU count is set with
  the process's CPU affinity (1 CPU, or all CPUs for "2 threads"), since MediaPipe picks its own thread count.
Weights do not change the time: ours is built with random weights. Each image runs `--repeats` times after one
warm-up pass over all images; per image the median is taken, and the table shows the mean over images. Our variants
are timed interleaved (image by image) so their ratios share the machine's load.

    python benchmarks/infer_vs_blazepose.py [--n 20] [--repeats 3] [--threads 1 2] [--flip] [--compile]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE_PY = ROOT / ".venv-baseline" / "bin" / "python"


def blazepose_worker():
    "Runs inside .venv-baseline: reads {images: [[path, bbox]], repeats, cpus} on stdin, prints per-image ms as json."
    job = json.loads(sys.stdin.read())
    os.sched_setaffinity(0, set(job["cpus"]))                # before mediapipe starts its threads
    import numpy as np
    from PIL import Image
    sys.path.insert(0, str(ROOT / "baselines"))
    from blazepose import crop_square, landmarks_to_coco17, make_pose, square_crop_box
    images = [(np.asarray(Image.open(p).convert("RGB")), box) for p, box in job["images"]]
    t0 = time.perf_counter()
    pose = make_pose()
    t_load = time.perf_counter() - t0

    def one(img, box):
        x0, y0, side = square_crop_box(box)
        out = pose.process(np.ascontiguousarray(crop_square(img, x0, y0, side)))
        return None if out.pose_landmarks is None else landmarks_to_coco17(out.pose_landmarks, x0, y0, side)
    with pose:
        found = sum(one(img, box) is not None for img, box in images)          # warm-up pass
        ms = [[] for _ in images]
        for _ in range(job["repeats"]):
            for i, (img, box) in enumerate(images):
                t = time.perf_counter(); one(img, box); ms[i].append(1000 * (time.perf_counter() - t))
    print(json.dumps({"ms": [statistics.median(v) for v in ms], "found": found, "load_s": t_load}))


def run_blazepose(images, repeats: int, cpus) -> dict | None:
    if not BASELINE_PY.exists():
        print(f"(BlazePose skipped: {BASELINE_PY} not found; create it with `make .venv-baseline/.installed`)")
        return None
    job = json.dumps({"images": images, "repeats": repeats, "cpus": sorted(cpus)})
    p = subprocess.run([str(BASELINE_PY), __file__, "--blazepose-worker"], input=job, capture_output=True, text=True,
                       env={**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"})
    if p.returncode: raise RuntimeError(f"BlazePose worker failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="number of people (the first annotations of SyRIP val, then test)")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes over the images (after one warm-up pass)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads / BlazePose CPUs")
    ap.add_argument("--flip", action="store_true", help="also run ours with flip test (predict_topdown's default)")
    ap.add_argument("--compile", action="store_true",
                    help="also run ours through torch.compile (inductor, weight freezing; compiled in the warm-up pass)")
    ap.add_argument("--blazepose-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.blazepose_worker: return blazepose_worker()

    import numpy as np
    import torch
    from infantpose import codecs, geometry
    from infantpose.config import autocast, resolve_precision
    from infantpose.datasets import syrip_split
    from infantpose.models import build_model
    from infantpose.pipeline import load_image, warp_crop
    from infantpose.skeletons import get_skeleton

    recs = [r for s in ("val", "test") for r in syrip_split(s)][:args.n]
    images = [load_image(r.image_path) for r in recs]                           # file reading: not timed
    size = (192, 256)
    torch.manual_seed(0)
    model = build_model("effnet_lite0", pretrained=False).eval().to(memory_format=torch.channels_last)
    codec = codecs.HeatmapCodec(size, (48, 64))
    flip_index = get_skeleton("coco17").flip_index
    bf16 = resolve_precision("bf16", "cpu")

    nets = {False: model}
    if args.compile:
        torch._inductor.config.freezing = True                                  # inductor's CPU inference path
        nets[True] = torch.compile(model, dynamic=False)

    def ours(img, box, precision, flip, stages=None, compiled=False):
        net = nets[compiled]
        t0 = time.perf_counter()
        center, wh = geometry.box_to_center_size(box, size[0] / size[1], 1.25)
        M = geometry.crop_matrix(center, wh, size)
        x = warp_crop(img, M, size)[None].contiguous(memory_format=torch.channels_last)
        t1 = time.perf_counter()
        with torch.inference_mode(), autocast("cpu", precision):
            hm = net(x).float()
            if flip: hm = codecs.merge_flip(hm, net(x.flip(-1)).float(), flip_index)
        t2 = time.perf_counter()
        kp, score = codec.decode(hm, method="dark")
        out = geometry.apply_affine(geometry.invert(M), kp[0].double().numpy()), score
        if stages is not None:
            for k, v in zip(("crop", "network", "decode"), (t1 - t0, t2 - t1, time.perf_counter() - t2)): stages[k].append(1000 * v)
        return out

    variants = [("fp32", False, False), (bf16, False, False)] + ([("fp32", True, False), (bf16, True, False)] if args.flip else []) \
        + ([("fp32", False, True), (bf16, False, True)] if args.compile else [])
    name = lambda p, f, c: f"ours {'compiled ' if c else ''}{p}" + (" + flip" if f else "")
    load0 = os.getloadavg()[0]
    rows, split = {}, {}
    for th in args.threads:
        torch.set_num_threads(th)
        for img, r in zip(images, recs):                                         # warm-up pass
            for p, f, c in variants: ours(img, r.box, p, f, compiled=c)                   # (compiles the first time)
        ms = {name(*v): [[] for _ in recs] for v in variants}
        stages = {name(*v): {"crop": [], "network": [], "decode": []} for v in variants}
        for _ in range(args.repeats):
            for i, (img, r) in enumerate(zip(images, recs)):
                for p, f, c in variants:
                    t = time.perf_counter(); ours(img, r.box, p, f, stages[name(p, f, c)], c)
                    ms[name(p, f, c)][i].append(1000 * (time.perf_counter() - t))
        for k, v in ms.items(): rows[(k, th)] = float(np.mean([statistics.median(x) for x in v]))
        for k, st in stages.items(): split[(k, th)] = {s: float(np.median(v)) for s, v in st.items()}
        cpus = sorted(os.sched_getaffinity(0))[:th]
        bp = run_blazepose([[str(r.image_path), [float(v) for v in r.box]] for r in recs], args.repeats, cpus)
        if bp:
            rows[("BlazePose (mediapipe, full)", th)] = float(np.mean(bp["ms"]))
            found = bp["found"]
    print(f"Per-person inference, {len(recs)} SyRIP people (val, then test), crop + network + decode, no file reading; "
          f"torch {torch.__version__}; load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after")
    if ("BlazePose (mediapipe, full)", args.threads[0]) in rows:
        print(f"BlazePose found a pose for {found} of {len(recs)} people (its detector can miss)")
    head = f"{'method':30s}" + "".join(f" {f'{th} thr ms':>10s} {'x BlazePose':>11s}" for th in args.threads)
    print(head); print("-" * len(head))
    for method in dict.fromkeys(k for k, _ in rows):
        line = f"{method:30s}"
        for th in args.threads:
            v, b = rows.get((method, th)), rows.get(("BlazePose (mediapipe, full)", th))
            line += f" {v:10.1f} {(f'{v / b:.2f}' if b else '-'):>11s}" if v is not None else f" {'-':>10s} {'-':>11s}"
        print(line)
    print("ms: mean over people of the per-person median; 'x BlazePose': time relative to BlazePose (< 1: ours is faster).")
    print("ours by stage (median ms): " + "; ".join(f"{k} {th} thr: " + ", ".join(f"{s} {v:.1f}" for s, v in st.items())
                                                   for (k, th), st in split.items()))


if __name__ == "__main__":
    main()
