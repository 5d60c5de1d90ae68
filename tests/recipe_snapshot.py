"""Seeded tiny runs of every training recipe, saved to a file or compared with one.

The check that a refactor of the engine or of a recipe changes no result: run `save` on the code before the change,
`compare` after it. Every run is seeded and single-threaded, so identical code gives bit-identical weights.

    python tests/recipe_snapshot.py save /tmp/before.pt
    python tests/recipe_snapshot.py compare /tmp/before.pt        # prints the max |difference| of each run
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

from infantpose.fidip import FiDIPConfig, domain_classifier, fidip, pretrain_classifier  # noqa: E402
from infantpose.kp2seg import PersonMaskDataset, train_kp2seg  # noqa: E402
from infantpose.mean_teacher import MeanTeacherConfig, udape  # noqa: E402
from infantpose.pipeline import AugmentConfig, MeanTeacherViews, PairedDataset, TopDownDataset  # noqa: E402
from infantpose.prior import NDFSchedule, PoseNDF  # noqa: E402
from infantpose.pose_sets import load_infant_poses  # noqa: E402
from infantpose.pose_vae import PoseVAE  # noqa: E402
from infantpose.regda import RegDANet, regda  # noqa: E402
from infantpose.sampling import fit_difficulty_vae  # noqa: E402
from infantpose.shift import ShiftConfig, shift  # noqa: E402
from infantpose.datasets import read_coco_keypoints  # noqa: E402
from infantpose.synthetic import write_dataset  # noqa: E402
import infantpose.train as T  # noqa: E402

try:
    from infantpose.evaluate import evaluate_pck  # after the evaluation refactor
except ImportError:
    from infantpose.mean_teacher import evaluate_pck

try:
    from infantpose.toy import ToyHeatmapDataset, ToyPoseNet  # after the engine refactor
except ImportError:
    from infantpose.train import ToyHeatmapDataset, ToyPoseNet


def cfg(out: Path, **kw) -> T.TrainConfig:
    base = dict(epochs=2, batch_size=4, lr=1e-3, max_steps_per_epoch=3, log_every=1, progress=False,
                tensorboard=False, plot=False, out_dir=str(out))
    return T.TrainConfig(**{**base, **kw})


def sd(m) -> dict:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


class ToyDomains(torch.utils.data.Dataset):
    "Toy samples, the first half tinted and flagged `is_synthetic`."
    def __init__(self, n=16):
        self.base, self.is_synthetic = ToyHeatmapDataset(n, seed=3), np.arange(n) < n // 2
    def set_epoch(self, e): self.base.set_epoch(e)
    def __len__(self): return len(self.base)
    def __getitem__(self, i):
        s = self.base[i]
        if self.is_synthetic[i]: s["image"] = 0.85 * s["image"] + 0.15 * torch.tensor([1.0, 0.7, 0.4])[:, None, None]
        return {**s, "is_synthetic": torch.tensor(int(self.is_synthetic[i]))}


def runs(work: Path) -> dict:
    out = {}
    data = ToyHeatmapDataset(16, seed=0)

    torch.manual_seed(0); m = ToyPoseNet(2, bn=True)
    T.fit(m, data, cfg(work / "source_only", ema_decay=0.9, grad_clip=1.0, warmup_steps=2, milestones=(1,)))
    out["source_only"] = sd(m)

    torch.manual_seed(0); m = ToyPoseNet(2, bn=True)
    st = T.fit(m, data, cfg(work / "fine_tune", optimizer="sgd", schedule="cosine", ema_decay=0.5),
               hooks=T.fine_tune(m, ["backbone.0", "backbone.1"]))
    out["fine_tune"] = sd(m); out["fine_tune_ema"] = sd(st.ema.module)

    dom = ToyDomains()
    torch.manual_seed(0); m = ToyPoseNet(2, bn=True)
    d = domain_classifier(m, (32, 32), kind="mobilenet")
    pretrain_classifier(m, d, dom, cfg(work / "fidip_pre", epochs=1))
    T.fit(m, dom, cfg(work / "fidip"), hooks=fidip(m, d, dom, FiDIPConfig(lam=0.5), ["backbone.0"]))
    out["fidip"] = sd(m); out["fidip_classifier"] = sd(d)

    torch.manual_seed(0); m = RegDANet(ToyPoseNet(2, width=8), adv_channels=16)
    pair = PairedDataset(ToyHeatmapDataset(8, seed=0), ToyHeatmapDataset(8, seed=1))
    T.fit(m, pair, cfg(work / "regda", optimizer="sgd", lr=0.01, nesterov=True, schedule="constant"), hooks=regda(m))
    out["regda"] = sd(m)

    poses = load_infant_poses("synthetic", n=60, seed=0)
    torch.manual_seed(0); prior = PoseNDF("coco17", hidden=(32, 32))
    prior.fit(poses.keypoints, poses.visible, schedule=NDFSchedule(stage_epochs=(1, 1, 1), iters_per_epoch=4,
                                                                    batch_size=64, lr=3e-3))
    out["posendf"] = sd(prior)
    torch.manual_seed(0); vae = PoseVAE("coco17", latent=4, hidden=(32,))
    vae.fit(poses.keypoints, poses.visible, epochs=3, batch_size=16)
    out["posevae"] = sd(vae)
    out["difficulty_vae"] = sd(fit_difficulty_vae(poses.keypoints, poses.visible, "coco17", epochs=3, latent=4, hidden=(32,)))

    def render(name, domain, n, seed):
        return read_coco_keypoints(write_dataset(work / name, domain, n=n, seed=seed, image_size=(96, 96),
                                                 progress=False, workers=1))
    src, val, tgt = render("a", "adult", 8, 1), render("av", "adult", 4, 2), render("i", "infant", 8, 3)
    inp, hm = (64, 64), (16, 16)
    source = TopDownDataset(src, input_size=inp, heatmap_size=hm, augment=AugmentConfig())
    views = MeanTeacherViews(tgt, input_size=inp, heatmap_size=hm, base="topdown")
    sval = lambda m: evaluate_pck(m, val, inp, n_boot=0, flip=False)[0]
    mt = MeanTeacherConfig(occlude_thresh=0.0)
    c = cfg(work / "udape", epochs=1, max_steps_per_epoch=2)
    torch.manual_seed(0); m = ToyPoseNet(17, bn=True)
    res = udape(m, source, views, c, 1, 1, mt, source_val=sval)
    out["udape"] = sd(m); out["udape_teacher"] = sd(res["teacher"].module)

    prior.eval().requires_grad_(False)
    G, _ = train_kp2seg(PersonMaskDataset(source, images=False), "tiny", out_dir=work / "kp2seg", epochs=1)
    out["kp2seg"] = sd(G)
    from infantpose.masks import FolderMasks, ViewMasks
    target = ViewMasks(views, FolderMasks(), student=True)
    torch.manual_seed(0); m = ToyPoseNet(17, bn=True)
    res = shift(m, source, target, cfg(work / "shift", epochs=1, max_steps_per_epoch=2), 1, 1, ShiftConfig(mode="all"),
                prior, G, mt, source_val=sval)
    out["shift"] = sd(m)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["save", "compare"])
    p.add_argument("file")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        now = runs(Path(tmp))
    if a.action == "save":
        torch.save(now, a.file); print(f"saved {len(now)} runs to {a.file}"); return
    before, worst = torch.load(a.file, weights_only=True), 0.0
    for name in sorted(set(before) | set(now)):
        if name not in before or name not in now: print(f"{name:18s} only in {'before' if name in before else 'now'}"); continue
        b, n = before[name], now[name]
        if set(b) != set(n): print(f"{name:18s} different keys: {sorted(set(b) ^ set(n))}"); worst = float("inf"); continue
        diff = max(((b[k].double() - n[k].double()).abs().max().item() if b[k].numel() else 0.0) for k in b)
        worst = max(worst, diff)
        print(f"{name:18s} max |difference| {diff:.3g}{'  (identical)' if diff == 0 else ''}")
    sys.exit(0 if worst == 0 else 1)


if __name__ == "__main__":
    main()
