"""The unit checks of `make gpu-check`: the engine's code paths that only run on a GPU, each on a toy model in seconds.

    python gpu_check/checks.py --device cuda --json out.json [--only NAME,NAME]

Each check is isolated (one failing does not stop the others) and the JSON file is rewritten after every check, so a
crash of the process still leaves the results so far and names the check that was running. With `--device cpu` the
checks that need CUDA are reported as skipped (the dry run). Mixed precision is the engine's `TrainConfig.precision`.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch import nn

CHECKS: dict = {}          # name -> (function, needs_cuda)


def check(needs_cuda: bool = True):
    "Register `fn(device, tmp) -> detail` as a check; it fails by raising."
    def register(fn):
        CHECKS[fn.__name__] = (fn, needs_cuda)
        return fn
    return register


from infantpose.checkpoint import load_checkpoint
from infantpose.config import TrainConfig
from infantpose.toy import ToyHeatmapDataset, ToyPoseNet
from infantpose.train import fit


def last_loss(state) -> str:
    h = getattr(state, "history", None)
    return f", last loss {h[-1]['loss']:.4g}" if h else ""


def toy_config(out, device, **kw):
    return TrainConfig(**{**dict(epochs=1, batch_size=8, lr=3e-3, out_dir=str(out), device=device, progress=False,
                                 tensorboard=False, plot=False, log_every=1), **kw})


def toy_fit(out, device, bn=True, n=32, model=None, **kw):
    torch.manual_seed(0)
    model = model if model is not None else ToyPoseNet(2, bn=bn)
    state = fit(model, ToyHeatmapDataset(n, seed=1), toy_config(out, device, **kw))
    return state, model


def finite(model: nn.Module) -> bool: return all(torch.isfinite(p).all() for p in model.parameters())


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


@check(needs_cuda=True)
def cuda_device(device, tmp):
    "What the machine is: torch, CUDA, the GPU, bf16 support; one matrix product checked against float64."
    p = torch.cuda.get_device_properties(0)
    a, b = torch.randn(512, 512, device=device), torch.randn(512, 512, device=device)
    err = rel(a @ b, (a.double() @ b.double()))
    assert err < 1e-2, f"fp32 matmul relative error {err:.2e}"
    return (f"torch {torch.__version__}, CUDA {torch.version.cuda}, {p.name} (sm_{p.major}{p.minor}, {p.total_memory / 2**30:.0f} GiB), "
            f"{torch.cuda.device_count()} device(s), bf16 supported {torch.cuda.is_bf16_supported()}, matmul rel. error {err:.1e}")


@check(needs_cuda=True)
def autocast_fp16(device, tmp):
    "fp16 autocast + GradScaler in `fit`: finite weights, the scaler's state in the checkpoint, fp16 activations."
    state, model = toy_fit(tmp / "fp16", device, precision="fp16")
    ck = load_checkpoint(tmp / "fp16" / "last.pt")
    assert state.scaler is not None and ck["scaler"], "no GradScaler in the run or its checkpoint"
    assert finite(model), "non-finite weights"
    with state.autocast(): y = model(torch.rand(2, 3, 32, 32, device=device))
    assert y.dtype == torch.float16, f"forward under the run's autocast gave {y.dtype}"
    return f"{state.step} steps, scale {state.scaler.get_scale():.0f}, {last_loss(state)}"


@check(needs_cuda=False)
def autocast_bf16(device, tmp):
    "bf16 autocast in `fit` (CPU and CUDA): finite weights, bf16 activations, no GradScaler."
    state, model = toy_fit(tmp / "bf16", device, precision="bf16")
    assert finite(model), "non-finite weights"
    with state.autocast(): y = model(torch.rand(2, 3, 32, 32, device=device))
    assert y.dtype == torch.bfloat16, f"forward under the run's autocast gave {y.dtype}"
    assert state.scaler is None, "bf16 needs no GradScaler"
    return f"{state.step} steps, {last_loss(state)}"


@check(needs_cuda=True)
def channels_last(device, tmp):
    "`channels_last=True` in `fit`; the same weights give the same heatmaps in both memory formats."
    state, model = toy_fit(tmp / "cl", device, channels_last=True)
    w = model.backbone[0].weight
    assert w.is_contiguous(memory_format=torch.channels_last), "model weights are not channels-last"
    x = torch.rand(4, 3, 32, 32, device=device)
    model.eval()
    with torch.no_grad():
        a = model(x.contiguous(memory_format=torch.channels_last))
        b = model.to(memory_format=torch.contiguous_format)(x)
    err = rel(a, b)
    assert err < 5e-3, f"channels-last and contiguous outputs differ: relative {err:.2e}"
    return f"{state.step} steps; channels-last vs contiguous outputs: relative difference {err:.1e}"


@check(needs_cuda=True)
def dataloader_pin_memory(device, tmp):
    "`fit` on CUDA with 2 DataLoader workers (pinned memory) equals the run with none."
    s0, m0 = toy_fit(tmp / "w0", device, workers=0)
    s2, m2 = toy_fit(tmp / "w2", device, workers=2)
    err = max(float((a - b).abs().max()) for a, b in zip(m0.state_dict().values(), m2.state_dict().values()))
    assert err < 1e-5, f"0 and 2 workers differ by {err:.2e}"
    return f"{s2.step} steps with 2 workers, pin_memory; largest difference to 0 workers {err:.1e}"


def _resume_model():
    torch.manual_seed(0)                                  # BatchNorm and dropout: the CUDA generator must be restored too
    return nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.2),
                         nn.Conv2d(8, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 2, 1))


@check(needs_cuda=False)
def resume_equal(device, tmp):
    "A run stopped after epoch 1 and resumed to epoch 2 ends where the uninterrupted 2-epoch run ends (BN, dropout, EMA)."
    kw = dict(ema_decay=0.9, ckpt_every_steps=3)
    _, full = toy_fit(tmp / "full", device, n=48, model=_resume_model(), epochs=2, **kw)
    toy_fit(tmp / "part", device, n=48, model=_resume_model(), epochs=1, **kw)
    state, resumed = toy_fit(tmp / "part", device, n=48, model=_resume_model(), epochs=2, **kw)
    err = max(float((a.float() - b.float()).abs().max()) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))
    assert state.step == 12, f"the resumed run ended at step {state.step}, not 12"
    assert err < 1e-4, f"resumed and uninterrupted weights differ by {err:.2e}"
    return f"{state.step} steps, largest weight difference {err:.1e} (tolerance 1e-4)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _one_process_group(script: str, tmp: Path, device: str, timeout: int = 180) -> str:
    "Run `script` as rank 0 of a 1-process group (the environment torchrun sets); its last output line is the detail."
    path = os.pathsep.join([str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    r = subprocess.run([sys.executable, "-c", script, str(tmp), device], env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode: raise RuntimeError(f"exit {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    return r.stdout.strip().splitlines()[-1]


NCCL_FIT = r"""
import sys, torch, torch.distributed as dist
from checks import api
setup_distributed, distributed_run, fit, TrainConfig, ToyHeatmapDataset, ToyPoseNet = map(api, (
    "setup_distributed", "distributed_run", "fit", "TrainConfig", "ToyHeatmapDataset", "ToyPoseNet"))
info = setup_distributed(sys.argv[2])
with distributed_run():
    assert dist.get_backend() == ("nccl" if info.device.type == "cuda" else "gloo"), dist.get_backend()
    t = torch.ones(3, device=info.device); dist.all_reduce(t); assert t.tolist() == [1.0, 1.0, 1.0]
    torch.manual_seed(0)
    s = fit(ToyPoseNet(2, bn=True), ToyHeatmapDataset(32, seed=1), TrainConfig(epochs=1, batch_size=8, out_dir=sys.argv[1],
            device=sys.argv[2], progress=False, tensorboard=False, plot=False))
    assert type(s.model).__name__ == "DistributedDataParallel", type(s.model)
    print(f"backend {dist.get_backend()}, world size {dist.get_world_size()}, {s.step} DDP steps on {info.device}")
"""


@check(needs_cuda=True)
def nccl_ddp_fit(device, tmp):
    "A 1-process NCCL group (the environment torchrun sets): all_reduce, then `fit` under DistributedDataParallel."
    return _one_process_group(NCCL_FIT, tmp, device)


SYNC_BN = r"""
import copy, sys, torch, torch.distributed as dist
from torch import nn
from checks import api
setup_distributed, distributed_run, ToyPoseNet = map(api, ("setup_distributed", "distributed_run", "ToyPoseNet"))
info = setup_distributed(sys.argv[2])
with distributed_run():
    torch.manual_seed(0)
    plain = ToyPoseNet(2, bn=True).to(info.device)
    sync = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(plain))
    n = sum(isinstance(m, nn.SyncBatchNorm) for m in sync.modules())
    assert n == 2, f"{n} SyncBatchNorm layers"
    ddp = nn.parallel.DistributedDataParallel(sync, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    x = torch.rand(8, 3, 32, 32, device=info.device)
    a, b = plain(x), ddp(x)
    b.square().mean().backward()
    err = float((a - b).abs().max())
    stats = max(float((p - q).abs().max()) for p, q in zip(plain.buffers(), sync.buffers()) if p.is_floating_point())
    assert err < 1e-5 and stats < 1e-6, (err, stats)
    print(f"{n} BatchNorm -> SyncBatchNorm under {dist.get_backend()}; output vs BatchNorm {err:.1e}, running statistics {stats:.1e}")
"""


@check(needs_cuda=True)
def sync_batchnorm(device, tmp):
    "BatchNorm -> SyncBatchNorm conversion in a 1-process NCCL group: it runs and, with one process, equals BatchNorm."
    return _one_process_group(SYNC_BN, tmp, device)


def run(names: list[str], device: str, json_path: Path, force: bool = False) -> list[dict]:
    results = []
    def save(): json_path.write_text(json.dumps(results, indent=1))
    for name in names:
        fn, needs_cuda = CHECKS[name]
        row = dict(name=name, doc=fn.__doc__, status="running", seconds=0.0, detail="")
        results.append(row); save()
        t = time.perf_counter()
        if needs_cuda and not device.startswith("cuda") and not force: row.update(status="skipped", detail="needs CUDA")
        else:
            try:
                with tempfile.TemporaryDirectory() as tmp: row.update(status="pass", detail=str(fn(device, Path(tmp))))
            except Exception as e:
                row.update(status="fail", detail=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:])
        row["seconds"] = round(time.perf_counter() - t, 2)
        print(f"{row['status']:>7}  {name} ({row['seconds']:.1f} s): {row['detail']}", flush=True)
        save()
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="the CUDA unit checks of make gpu-check")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path, required=True, help="results file, rewritten after every check")
    p.add_argument("--only", default="", help="comma-separated check names (default: all)")
    p.add_argument("--force", action="store_true", help="also run the CUDA checks on another device (to test them)")
    a = p.parse_args(argv)
    names = [n for n in a.only.split(",") if n] or list(CHECKS)
    unknown = set(names) - set(CHECKS)
    if unknown: p.error(f"unknown checks {sorted(unknown)}; known: {list(CHECKS)}")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")     # before CUDA starts: deterministic cuBLAS for resume_equal
    results = run(names, a.device, a.json, a.force)
    return int(any(r["status"] == "fail" for r in results))


if __name__ == "__main__": sys.exit(main())
