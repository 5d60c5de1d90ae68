"""Training and inference speed of the pose networks on this machine, against its measured fp32 matmul peak.

For each model at its usual input size, with and without the channels-last memory format:
- training images per second (forward + loss + backward + Adam step, batch `--batch`),
- the FLOPs of one training step (counted by `torch.utils.flop_counter.FlopCounterMode`) and the FLOP/s achieved,
  as a fraction of the fp32 matmul peak measured here (a large square `torch.mm`). torch's own formula for
  `convolution_backward` ignores `groups` in the weight gradient (it counts a depthwise convolution's weight gradient
  as a dense one, ~C times too many FLOPs, which would inflate EfficientNet's count 10x); we count each of the two
  gradients of a convolution as many FLOPs as its forward, which is exact for grouped convolutions too,
- inference images per second at batch 1 and 32.
Runs are a few iterations each (timing noise of a few percent); the machine's other load shows in the numbers.

    python benchmarks/train_speed.py [--iters 3] [--batch 8] [--models effnet_lite0 resnet50]
"""
import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from infantpose.models import build_model
from infantpose.losses import JointsMSELoss

SIZES = {"effnet_lite0": (192, 256), "resnet18": (192, 256), "resnet50": (192, 256), "resnet101": (192, 256)}  # (W, H)


def seconds(fn, iters: int, warmup: int = 1) -> float:
    "Median wall time of `fn()` over `iters` calls after `warmup` calls."
    for _ in range(warmup): fn()
    times = []
    for _ in range(iters):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                       _output_padding, _groups, output_mask, out_shape=None, **kwargs) -> int:
    "FLOPs of `aten.convolution_backward`: each requested gradient (input, weight) costs what the forward costs."
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def count_flops(fn) -> int:
    with FlopCounterMode(display=False, custom_mapping={torch.ops.aten.convolution_backward: conv_backward_flop}) as c:
        fn()
    return c.get_total_flops()


def matmul_peak(n: int = 1024, iters: int = 10) -> float:
    "fp32 FLOP/s of the fastest of `iters` n x n matmuls (2 n^3 FLOPs each): the reference 'peak' of this machine."
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2): torch.mm(a, b)
    best = min(seconds(lambda: torch.mm(a, b), 1, warmup=0) for _ in range(iters))
    return 2 * n ** 3 / best


def bench(name: str, channels_last: bool, batch: int, iters: int) -> dict:
    W, H = SIZES[name]
    torch.manual_seed(0)
    model = build_model(name, num_keypoints=17, pretrained=False)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    loss_fn, opt = JointsMSELoss(), torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, H, W).contiguous(memory_format=fmt)
    target, weight = torch.rand(batch, 17, H // 4, W // 4), torch.ones(batch, 17)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), target, weight).backward()
        opt.step()

    model.train()
    flops_per_step = count_flops(lambda: loss_fn(model(x), target, weight).backward())
    t_train = seconds(train_step, iters)

    model.eval()
    infer = {}
    for b in (1, 32):
        xb = torch.rand(b, 3, H, W).contiguous(memory_format=fmt)
        with torch.inference_mode():
            infer[b] = b / seconds(lambda: model(xb), iters if b == 1 else max(1, iters - 1))
    return {"model": name, "input": f"{W}x{H}", "channels_last": channels_last, "train_img_s": batch / t_train,
            "gflop_per_img": flops_per_step / batch / 1e9, "achieved_gflop_s": flops_per_step / t_train / 1e9,
            "infer_b1": infer[1], "infer_b32": infer[32]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["effnet_lite0", "resnet50"], choices=sorted(SIZES))
    ap.add_argument("--batch", type=int, default=8, help="training batch size")
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per measurement (after one warm-up)")
    args = ap.parse_args()

    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
    rows = [bench(m, cl, args.batch, args.iters) for m in args.models for cl in (False, True)]
    peak = max(peak, matmul_peak())          # measured again at the end: the machine may be shared
    print(f"(peak after the runs: {peak / 1e9:.1f} GFLOP/s, the larger of the two is used)")
    head = (f"{'model':13s} {'input':8s} {'ch-last':7s} {'train img/s':>11s} {'GFLOP/img':>9s} {'GFLOP/s':>8s} "
            f"{'% peak':>6s} {'infer b1':>9s} {'infer b32':>9s}")
    print(head); print("-" * len(head))
    for r in rows:
        print(f"{r['model']:13s} {r['input']:8s} {str(r['channels_last']):7s} {r['train_img_s']:11.1f} "
              f"{r['gflop_per_img']:9.2f} {r['achieved_gflop_s']:8.1f} {100 * r['achieved_gflop_s'] * 1e9 / peak:6.1f} "
              f"{r['infer_b1']:9.1f} {r['infer_b32']:9.1f}")
    for m in args.models:
        a, b = [r for r in rows if r["model"] == m]
        print(f"{m}: channels-last speed-up: training x{b['train_img_s'] / a['train_img_s']:.2f}, "
              f"inference b32 x{b['infer_b32'] / a['infer_b32']:.2f}")
    print("GFLOP/img counts forward + backward of one training step (FlopCounterMode), per image.")


if __name__ == "__main__":
    main()
