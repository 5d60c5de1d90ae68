"""Speed of the published backbones (`infantpose.backbones`): images per second for inference (forward) and for
training (forward + MSE + backward + Adam step), at each network's published input size, on CPU and, when CUDA is
available, on the GPU. HRNet-W48 at 384x288 is heavy on CPU: it runs at batch 1 and 2 only there.
Runs are a few iterations each (median), so the machine's other load shows in the numbers.

    python benchmarks/backbones_speed.py [--iters 3] [--models hrnet_w32 hrnet_w48 pose_mobilenetv2]
"""
import argparse
import time

import torch

from infantpose.models import build_model

CASES = {"hrnet_w32": ((256, 192), (1, 8)), "hrnet_w48": ((384, 288), (1, 2)), "pose_mobilenetv2": ((224, 224), (1, 8))}  # (H, W), batches


def seconds(fn, iters: int, sync=lambda: None) -> float:
    "Median wall time of `fn()` over `iters` calls, after one warm-up call."
    fn(); sync()
    times = []
    for _ in range(iters):
        t = time.perf_counter(); fn(); sync(); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def bench(name: str, device: str, iters: int, batches=None) -> list[dict]:
    (H, W), default_batches = CASES[name]
    torch.manual_seed(0)
    model = build_model(name, num_keypoints=17, pretrained=False).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    for b in batches or default_batches:
        x, target = torch.rand(b, 3, H, W, device=device), torch.rand(b, 17, H // 4, W // 4, device=device)

        def train_step():
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x), target).backward()
            opt.step()

        model.eval()
        with torch.inference_mode(): t_inf = seconds(lambda: model(x), iters, sync)
        model.train()
        t_train = seconds(train_step, iters, sync)
        rows.append(dict(model=name, device=device, input=f"{H}x{W}", batch=b, infer_img_s=b / t_inf, train_img_s=b / t_train))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"{'model':<18}{'device':<8}{'input':<9}{'batch':>6}{'infer img/s':>13}{'train img/s':>13}")
    for device in devices:
        for name in args.models:
            for r in bench(name, device, args.iters, batches=(1, 32) if device == "cuda" else None):
                print(f"{r['model']:<18}{r['device']:<8}{r['input']:<9}{r['batch']:>6}{r['infer_img_s']:>13.2f}{r['train_img_s']:>13.2f}")


if __name__ == "__main__":
    main()
