"""Training throughput (images / s) of the pose networks: forward, backward and Adam step on a batch already on the device.

    python gpu_check/throughput.py --device cuda --json out.json [--quick]

It measures the network, not the data pipeline: random images and heatmaps stay on the device, each timed step is
synchronised, and the median of the steps after the warm-up is reported. Precisions: fp32 (TF32 matrix units off and
on), bf16 autocast and fp16 autocast with a GradScaler (CUDA), in channels-last memory format. `--quick` is the CPU dry
run: the smallest network at a tiny size for two steps.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

# (model name for infantpose.models.build_model, input (W, H), batch)
MODELS = [("hrnet_w48", (288, 384), 32), ("resnet50", (192, 256), 64), ("effnet_lite0", (192, 256), 64)]


def measure(name: str, size, batch: int, precision: str, device: str, steps: int, warmup: int) -> dict:
    from infantpose.models import build_model, heatmap_size
    from infantpose.train import JointsMSELoss
    torch.manual_seed(0)
    cuda = device.startswith("cuda")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    model = build_model(name, 17, pretrained=False).to(device).to(memory_format=torch.channels_last).train()
    w, h = heatmap_size(model, size)
    x = torch.rand(batch, 3, size[1], size[0], device=device).contiguous(memory_format=torch.channels_last)
    target, weight = torch.rand(batch, 17, h, w, device=device), torch.ones(batch, 17, device=device)
    opt, loss_fn = torch.optim.Adam(model.parameters(), 1e-4), JointsMSELoss()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    if cuda: torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = loss_fn(model(x).float(), target, weight)
        if scaler: scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
        else: loss.backward(); opt.step()
        if cuda: torch.cuda.synchronize()
        if i >= warmup: times.append(time.perf_counter() - t)
    assert torch.isfinite(loss), f"non-finite loss {float(loss)}"
    step = statistics.median(times)
    return dict(model=name, input=f"{size[0]}x{size[1]}", batch=batch, precision=precision, step_ms=round(1000 * step, 2),
                img_per_s=round(batch / step, 1), peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="CPU dry run: EfficientNet-Lite0 at 64x64, batch 2, two steps, fp32")
    a = p.parse_args(argv)
    if a.quick: plan, precisions, a.steps, a.warmup = [("effnet_lite0", (64, 64), 2)], ["fp32"], 2, 0
    else: plan, precisions = MODELS, ["fp32", "tf32", "bf16", "fp16"] if a.device.startswith("cuda") else ["fp32", "bf16"]
    rows = []
    for name, size, batch in plan:
        for prec in precisions:
            try: row = measure(name, size, batch, prec, a.device, a.steps, a.warmup)
            except Exception as e:
                row = dict(model=name, input=f"{size[0]}x{size[1]}", batch=batch, precision=prec, error=f"{type(e).__name__}: {e}"[:500])
            if a.device.startswith("cuda"): torch.cuda.empty_cache()
            rows.append(row); a.json.write_text(json.dumps(rows, indent=1))
            print(json.dumps(row), flush=True)
    return int(any("error" in r for r in rows))


if __name__ == "__main__": sys.exit(main())
