"""Where the time of one EfficientNet-Lite0 training step goes on this CPU, in fp32 and in bf16 autocast.

One step as `train.fit` runs it with `workers=0` (the default): the next batch from a `TopDownDataset` with the default
augmentation (real SyRIP training images when `$INFANTPOSE_SHARED_DATA` holds them, else random tensors: then "data"
is only the collation), the forward under `infantpose.config.autocast` (as `TrainState.autocast`), `JointsMSELoss`
on `pred.float()`, backward, Adam step. channels-last on, batch `--batch`, 192x256, `--threads` threads.
After `--warmup` unprofiled steps, `--steps` steps run under `torch.profiler` and their time is split into groups:

- depthwise conv: the backbone's depthwise 3x3 / 5x5 convolutions, forward and backward (weight shape -> group);
- pointwise conv: the backbone's 1x1 expansion / projection convolutions, the stem and the 1x1 conv_head;
- head conv: the pose head's 1x1 reduce / lateral convolutions, its 3x3 convolutions and the final 1x1 layer;
- head upsample: bilinear upsampling in the head (forward and backward);
- BN, activations (ReLU6 / ReLU and their backward), loss, optimizer (Adam), data (load, augment, collate);
- casts: dtype conversions (`aten::to` / `_to_copy` / `copy_`: the bf16 casts of autocast);
- other: what is left (autograd bookkeeping, adds, the input normalisation, zero_grad, ...).

An operator event is put in a group by its name and, for convolutions, by its weight's shape (recorded by the profiler);
the inclusive time of a grouped event is counted once (its children are not looked at again). Profiling slows small
operators, so the profiled step is longer than the plain one (both printed).

    python benchmarks/profile_step.py [--threads 1] [--batch 16] [--precisions fp32 bf16 bf16-dw32] [--top 0]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from infantpose.config import autocast, resolve_precision
from infantpose.losses import JointsMSELoss
from infantpose.models import build_model
from train_speed import fp32_depthwise                                      # benchmarks/ is on sys.path when run as a script

GROUPS = ("depthwise conv", "pointwise conv", "head conv", "head upsample", "BN", "activations", "loss", "optimizer",
          "data", "casts", "other")
CONV_OPS = {"aten::conv2d": 1, "aten::convolution": 1, "aten::_convolution": 1, "aten::mkldnn_convolution": 1,
            "aten::convolution_backward": 2}                                     # op -> index of the weight input
BN_OPS = ("batch_norm", "native_batch_norm")
ACT_OPS = ("relu", "hardtanh", "threshold_backward", "clamp", "silu", "sigmoid")
CAST_OPS = ("aten::to", "aten::_to_copy", "aten::copy_")


def conv_groups(model) -> dict:
    "Weight shape of each convolution of `model` -> its group (a shape used in two groups is reported)."
    shapes = {}
    for name, m in model.named_modules():
        if not isinstance(m, torch.nn.Conv2d): continue
        if name.startswith("backbone"): g = "depthwise conv" if m.groups > 1 else "pointwise conv"
        else: g = "head conv"
        key = tuple(m.weight.shape)
        if shapes.get(key, g) != g: print(f"warning: weight shape {key} is in {shapes[key]!r} and {g!r}; counted as {g!r}")
        shapes[key] = g
    return shapes


def group_of(ev, shapes: dict) -> str | None:
    "The group of a profiler event, or None (look at its children)."
    n = ev.name
    if n in ("data", "optimizer", "loss"): return n
    if n in CONV_OPS:
        s = ev.input_shapes
        i = CONV_OPS[n]
        if s and len(s) > i and s[i]: return shapes.get(tuple(s[i]), "pointwise conv")
        return None
    if "upsample" in n: return "head upsample"
    if any(b in n for b in BN_OPS): return "BN"
    if n.startswith("aten::") and any(a in n for a in ACT_OPS): return "activations"
    if n in CAST_OPS: return "casts"
    return None


def split_time(events, shapes: dict) -> dict:
    "Microseconds per group over the event tree (a grouped event's inclusive time, ungrouped events' self time -> other)."
    out = defaultdict(float)

    def visit(ev):
        g = group_of(ev, shapes)
        if g is not None: out[g] += ev.cpu_time_total; return
        out["other"] += ev.self_cpu_time_total
        for c in ev.cpu_children: visit(c)
    for ev in events:
        if ev.cpu_parent is None:
            if ev.name.startswith("ProfilerStep"): [visit(c) for c in ev.cpu_children]
            else: visit(ev)
    return out


def make_batches(batch: int, n: int):
    "An iterator of training batches: real SyRIP crops with augmentation if available, else random tensors."
    from infantpose.paths import syrip_train200_dir
    root = syrip_train200_dir()
    if (root / "splits.json").is_file():
        from infantpose.datasets import syrip_split
        from infantpose.pipeline import AugmentConfig, TopDownDataset
        ds = TopDownDataset(syrip_split("train", root), augment=AugmentConfig())
        loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0, drop_last=True,
                                             generator=torch.Generator().manual_seed(0))
        src = f"SyRIP train ({len(ds)} images, default augmentation, workers=0)"
        def it():
            while True: yield from loader
        return it(), src
    def rand():
        g = torch.Generator().manual_seed(0)
        while True:
            yield {"image": torch.rand(batch, 3, 256, 192, generator=g), "heatmaps": torch.rand(batch, 17, 64, 48, generator=g),
                   "weights": torch.ones(batch, 17)}
    return rand(), "random tensors (no SyRIP images found)"


def run(precision: str, batch: int, warmup: int, steps: int, top: int) -> tuple[dict, float, float, str]:
    torch.manual_seed(0)
    model = build_model("effnet_lite0", pretrained=False).to(memory_format=torch.channels_last).train()
    shapes = conv_groups(model)
    if precision == "bf16-dw32": fp32_depthwise(model); precision = resolve_precision("bf16", "cpu")
    opt, loss_fn = torch.optim.Adam(model.parameters(), lr=1e-4), JointsMSELoss()
    batches, src = make_batches(batch, warmup + 2 * steps)

    def step():
        with record_function("data"):
            b = next(batches)
            x = b["image"].contiguous(memory_format=torch.channels_last)
        opt.zero_grad(set_to_none=True)
        with autocast("cpu", precision): pred = model(x)                        # as TrainState.autocast
        with record_function("loss"): loss = loss_fn(pred.float(), b["heatmaps"], b["weights"])
        loss.backward()
        with record_function("optimizer"): opt.step()

    for _ in range(warmup): step()
    t = time.perf_counter()
    for _ in range(steps): step()
    plain = (time.perf_counter() - t) / steps
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        t = time.perf_counter()
        for _ in range(steps): step()
        profiled = (time.perf_counter() - t) / steps
    us = split_time(prof.events(), shapes)
    if top:
        print(f"\n{precision}: top {top} operators by self CPU time")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))
    return {k: v / 1e6 / steps for k, v in us.items()}, plain, profiled, src


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=2, help="unprofiled steps first")
    ap.add_argument("--steps", type=int, default=2, help="profiled steps (the table is their mean)")
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "bf16-dw32"], choices=["fp32", "bf16", "bf16-dw32"],
                    help="bf16-dw32: bf16 autocast with the depthwise convolutions kept in fp32 (train_speed.Fp32Depthwise)")
    ap.add_argument("--top", type=int, default=0, help="also print the profiler's top-N operator table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    res = {}
    for p in args.precisions: res[p] = run(p if p == "bf16-dw32" else resolve_precision(p, "cpu"), args.batch, args.warmup,
                                           args.steps, args.top)
    src = next(iter(res.values()))[3]
    print(f"EfficientNet-Lite0 training step, batch {args.batch}, 192x256, channels-last, {args.threads} thread(s), "
          f"torch {torch.__version__}; data: {src}; load average {os.getloadavg()[0]:.1f}")
    others = [p for p in res if p != "fp32"] if "fp32" in res else []
    head = f"{'group':16s}" + "".join(f" {p + ' s':>13s} {'%':>5s}" for p in res) + "".join(f" {p + '/fp32':>14s}" for p in others)
    print(head); print("-" * len(head))
    totals = {p: sum(r[0].values()) for p, r in res.items()}
    for g in GROUPS:
        line = f"{g:16s}" + "".join(f" {r[0].get(g, 0):13.3f} {100 * r[0].get(g, 0) / totals[p]:5.1f}" for p, r in res.items())
        for p in others:
            a, b = res["fp32"][0].get(g, 0), res[p][0].get(g, 0)
            line += f" {b / a:14.2f}" if a > 0 else f" {'':14s}"
        print(line)
    print("-" * len(head))
    print(f"{'profiled step':16s}" + "".join(f" {totals[p]:13.3f} {100:5.0f}" for p in res)
          + "".join(f" {totals[p] / totals['fp32']:14.2f}" for p in others))
    print(f"{'plain step':16s}" + "".join(f" {r[1]:13.3f} {'':5s}" for r in res.values())
          + "".join(f" {res[p][1] / res['fp32'][1]:14.2f}" for p in others))
    print("seconds per step; 'profiled step' sums the groups (profiler overhead included), 'plain step' is timed "
          "without the profiler; img/s = batch / plain step: " + ", ".join(f"{p} {args.batch / r[1]:.1f}" for p, r in res.items()))


if __name__ == "__main__":
    main()
