"""Score a COCO keypoint results file (e.g. BlazePose's, from `baselines/blazepose.py`) on one split of the real SyRIP
images, with exactly the evaluation our own models get (`infantpose.evaluate.evaluate_keypoints`): COCO AP / AR with box
areas and with the file's areas, PCK@0.05 of the box size, EvalPose, per joint, group and posture, 95% bootstrap intervals
over images; an image without a result is a miss. Also draws the best and worst images. Runs in the project's `.venv`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from infantpose import evaluate, metrics
from infantpose.paths import syrip_train200_dir


def main(argv=None):
    d = syrip_train200_dir()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=Path("outputs/baseline/blazepose_test_results.json"), help="COCO results json (default: %(default)s)")
    p.add_argument("--gt", type=Path, default=d / "annotations" / "person_keypoints_train_infant.json", help="COCO keypoint ground truth (default: %(default)s)")
    p.add_argument("--images", type=Path, default=d / "images", help="image folder, for the figure (default: %(default)s)")
    p.add_argument("--splits", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "syrip_split.json",
                   help="json of image ids per split (default: the repository's fixed split, %(default)s)")
    p.add_argument("--split", default="test", help="split to score: train / val / test (default: %(default)s)")
    p.add_argument("--out", type=Path, default=Path("outputs/baseline"), help="report folder (default: %(default)s)")
    p.add_argument("--name", default="blazepose_test", help="report name: NAME.json, NAME.md (default: %(default)s)")
    p.add_argument("--figure", default="", help="also write the best / worst figure here ('' for only OUT/NAME_cases.png)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default: %(default)s)")
    a = p.parse_args(argv)
    for what, path in [("--results", a.results), ("--gt", a.gt), ("--splits", a.splits)]:
        if not path.exists(): raise SystemExit(f"{what}: not found: {path}")
    results = json.loads(a.results.read_text())
    ids = json.loads(a.splits.read_text())[a.split]
    report = evaluate.evaluate_keypoints(a.gt, results, ids, n_boot=a.n_boot)
    meta = a.results.with_name(a.results.stem + "_meta.json")
    if meta.exists(): report["run"] = json.loads(meta.read_text())
    report.update(split=a.split, results=str(a.results))
    evaluate.save_report(report, a.out, a.name)
    import matplotlib; matplotlib.use("Agg")
    fig = evaluate.cases_figure(a.gt, results, a.images, ids, n=4, title=f"{a.name}: best (top) and worst (bottom) images by OKS")
    fig.savefig(a.out / f"{a.name}_cases.png", dpi=70)
    if a.figure: Path(a.figure).parent.mkdir(parents=True, exist_ok=True); fig.savefig(a.figure, dpi=70)
    print(evaluate.summary_table({a.name: report}))
    print(evaluate.posture_table({a.name: report}))


if __name__ == "__main__":
    main()
