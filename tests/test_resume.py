"""A training run killed with SIGKILL in the middle of an epoch and resumed ends with weights `torch.equal` to an
uninterrupted run's, with 0 and with 2 DataLoader worker processes.

The uninterrupted reference runs once, with 0 workers, concurrently with the first kill / resume cycle; both resumed
runs must equal it, which also shows that the result does not depend on the number of workers.

Each run is a subprocess executing this file as a script (`python tests/test_resume.py OUT WORKERS SLEEP`): a tiny
network with BatchNorm and dropout trained by `infantpose.train.fit` on the toy dataset, with a checkpoint every 4 steps
(6 steps per epoch, so the step-4 checkpoint is mid-epoch). The killed run sleeps after each step so the test can kill
it right after that checkpoint appears.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS_PER_EPOCH, CKPT_EVERY = 6, 4


def train(out: str, workers: int, sleep: float):
    from torch import nn
    from infantpose.toy import ToyHeatmapDataset
    from infantpose.train import Hooks, TrainConfig, fit
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.2),
                          nn.Conv2d(8, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 2, 1))
    hooks = Hooks(after_step=(lambda state, losses: time.sleep(sleep)) if sleep else None)
    config = TrainConfig(epochs=2, batch_size=8, lr=3e-3, workers=workers, ckpt_every_steps=CKPT_EVERY, log_every=1,
                         ema_decay=0.9, out_dir=out, progress=False, tensorboard=False,
                         plot=False)
    fit(model, ToyHeatmapDataset(8 * STEPS_PER_EPOCH, seed=1), config, hooks=hooks)


def _cmd(out, workers, sleep=0.0):
    return [sys.executable, __file__, str(out), str(workers), str(sleep)]


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The uninterrupted run (0 workers), started in the background; call the result to wait for its checkpoint."
    out = tmp_path_factory.mktemp("full")
    proc = subprocess.Popen(_cmd(out, 0), env=_env())
    def wait():
        assert proc.wait(timeout=120) == 0, "the uninterrupted run failed"
        return _load(out / "last.pt")
    yield wait
    if proc.poll() is None: proc.kill(); proc.wait()


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_mid_epoch_then_resume(tmp_path, workers, reference):
    killed = tmp_path / "killed"

    # start a slow run in its own process group (so its DataLoader workers die with it) and kill it after step 4
    proc = subprocess.Popen(_cmd(killed, workers, sleep=0.3), env=_env(), start_new_session=True)
    try:
        deadline = time.time() + 60
        while True:
            ckpt = killed / "last.pt"
            if ckpt.exists() and _load(ckpt)["step"] >= CKPT_EVERY: break
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.time() < deadline, "no checkpoint appeared in 60 s"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            try: os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError: pass
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    ck = _load(killed / "last.pt")
    assert (ck["step"], ck["epoch"], ck["batch_in_epoch"]) == (CKPT_EVERY, 0, CKPT_EVERY), "not a mid-epoch checkpoint"

    subprocess.run(_cmd(killed, workers), env=_env(), check=True, timeout=120)
    a, b = reference(), _load(killed / "last.pt")
    assert a["step"] == b["step"] == 2 * STEPS_PER_EPOCH
    for part in ("model",):
        for k, v in a[part].items(): assert torch.equal(v, b[part][k]), f"{part}.{k} differs after resume"
    for k, v in a["ema"]["module"].items(): assert torch.equal(v, b["ema"]["module"][k]), f"ema.{k} differs"
    for k, v in a["optimizer"]["state"].items():
        for name, t in v.items(): assert torch.equal(t, b["optimizer"]["state"][k][name]), f"optimizer {k}.{name}"


if __name__ == "__main__":
    train(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
