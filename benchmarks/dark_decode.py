"""Batched DARK decoding (`infantpose.codecs.decode_dark`) against a per-joint numpy loop.

The reference loop follows the recipe of DarkPose's `get_final_preds` (Zhang et al. 2020), written in our own words
from its description: argmax on the raw maps,
then for every joint a zero-padded 11x11 Gaussian blur (sigma 2) rescaled to the original maximum,
log of the clamped map, and a Taylor step with step-2 second differences under the 2-pixel border rule.

Run: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/dark_decode.py` (single core for a fair comparison).
Prints both timings, the maximum coordinate difference and the speed ratio (goal: >= 20x).
"""
import argparse
import time

import numpy as np
import torch
from scipy.ndimage import correlate1d

from infantpose.codecs import decode_dark


def peaked_heatmaps(shape=(64, 17, 96, 72), sigma=2.0, noise=0.02, seed=0):
    "Random heatmaps that look like network outputs: one Gaussian per map at a float position, plus noise."
    B, K, H, W = shape
    rng = np.random.default_rng(seed)
    mu = rng.uniform([1, 1], [W - 2, H - 2], (B, K, 2))
    amp = rng.uniform(0.3, 1.0, (B, K, 1, 1))
    xs, ys = np.arange(W), np.arange(H)
    gx = np.exp(-(xs - mu[..., 0, None]) ** 2 / (2 * sigma ** 2))
    gy = np.exp(-(ys - mu[..., 1, None]) ** 2 / (2 * sigma ** 2))
    hm = amp * gy[..., :, None] * gx[..., None, :] + noise * rng.standard_normal((B, K, H, W))
    return hm.astype(np.float32)


def opencv_kernel(kernel=11):
    "cv2.getGaussianKernel(kernel, 0): sigma = 0.3 ((kernel - 1) / 2 - 1) + 0.8."
    sigma = 0.3 * ((kernel - 1) / 2 - 1) + 0.8
    x = np.arange(kernel) - (kernel - 1) / 2
    g = np.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def taylor_step(z, x, y):
    "One Newton step on the log-map z (H, W) from the integer peak (x, y); unchanged near the border or if det == 0."
    H, W = z.shape
    px, py = int(x), int(y)
    if not (1 < px < W - 2 and 1 < py < H - 2): return x, y
    dx = 0.5 * (z[py, px + 1] - z[py, px - 1])
    dy = 0.5 * (z[py + 1, px] - z[py - 1, px])
    dxx = 0.25 * (z[py, px + 2] - 2 * z[py, px] + z[py, px - 2])
    dyy = 0.25 * (z[py + 2, px] - 2 * z[py, px] + z[py - 2, px])
    dxy = 0.25 * (z[py + 1, px + 1] - z[py - 1, px + 1] - z[py + 1, px - 1] + z[py - 1, px - 1])
    if dxx * dyy - dxy ** 2 == 0: return x, y
    hess = np.array([[dxx, dxy], [dxy, dyy]])
    off = -np.linalg.inv(hess) @ np.array([dx, dy])
    return x + off[0], y + off[1]


def dark_reference(hm, kernel=11):
    "Per-joint numpy DARK: hm (B, K, H, W) float32 -> coords (B, K, 2), maxvals (B, K)."
    B, K, H, W = hm.shape
    flat = hm.reshape(B, K, -1)
    idx, maxvals = flat.argmax(-1), flat.max(-1)
    coords = np.stack([idx % W, idx // W], -1).astype(np.float32)
    g, border = opencv_kernel(kernel), (kernel - 1) // 2
    mod = np.empty_like(hm)
    for b in range(B):                       # modulation, one joint at a time
        for k in range(K):
            m = hm[b, k]
            padded = np.zeros((H + 2 * border, W + 2 * border), np.float32)
            padded[border:-border, border:-border] = m
            padded = correlate1d(correlate1d(padded, g, axis=0, mode="constant"), g, axis=1, mode="constant")
            blurred = padded[border:-border, border:-border]
            mod[b, k] = blurred * (m.max() / blurred.max())
    z = np.log(np.maximum(mod, 1e-10))
    out = coords.copy()
    for b in range(B):                       # Taylor step, one joint at a time
        for k in range(K):
            out[b, k] = taylor_step(z[b, k], *coords[b, k])
    return out, maxvals


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); res = fn(); times.append(time.perf_counter() - t)
    return min(times), res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=4, default=(64, 17, 96, 72), metavar=("B", "K", "H", "W"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    hm = peaked_heatmaps(tuple(args.shape))
    ht = torch.from_numpy(hm)
    print(f"heatmaps {tuple(hm.shape)} float32, torch threads = {torch.get_num_threads()}")

    t_ref, (c_ref, m_ref) = best_of(lambda: dark_reference(hm), max(1, args.repeat // 2))
    decode_dark(ht); decode_dark(ht, fast=False)                                  # warm-up
    t_fast, (c_fast, m_fast) = best_of(lambda: decode_dark(ht), args.repeat)
    t_full, (c_full, _) = best_of(lambda: decode_dark(ht, fast=False), args.repeat)

    d_fast = float(np.abs(c_fast.numpy() - c_ref).max())
    d_full = float(np.abs(c_full.numpy() - c_ref).max())
    print(f"per-joint numpy loop          : {t_ref * 1e3:9.1f} ms")
    print(f"decode_dark (full-map blur)   : {t_full * 1e3:9.1f} ms   x{t_ref / t_full:6.1f}   max |diff| {d_full:.2e} px")
    print(f"decode_dark (default, patches): {t_fast * 1e3:9.1f} ms   x{t_ref / t_fast:6.1f}   max |diff| {d_fast:.2e} px")
    print(f"maxvals identical: {bool(np.array_equal(m_fast.numpy(), m_ref))}")
    print(f"speed ratio (numpy loop / batched decode_dark): {t_ref / t_fast:.1f}x (goal >= 20x)")


if __name__ == "__main__":
    main()
