"""Two processes (gloo, CPU) launched by torchrun take the same training steps as one process with the same global batch.

`python -m infantpose.toy` (the toy command line on top of `infantpose.train.fit`) trains `ToyPoseNet` without
BatchNorm (per-rank batch statistics would differ from the single process's; see the notebook `07_train`):

- alone, for 2 epochs;
- under `torchrun --nproc_per_node 2`, first for 1 epoch, then started again with `--epochs 2`, so it resumes from the
  checkpoint rank 0 wrote, which both ranks read.

RegDA's three optimiser steps per batch (one forward pass each, through the DDP wrapper) do the same: `python
tests/test_ddp.py regda OUT` alone and under torchrun with 2 processes give the same weights.

The single-process reference runs concurrently with the distributed runs. The final weights must agree to 1e-6, and so must the logged training losses and the validation losses (averaged over
the ranks before rank 0 logs them). The distributed checkpoint holds the unwrapped module's keys and every rank's
random state.
"""
import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--batch-size", "8", "--samples", "32", "--val-samples", "8", "--log-every", "2", "--no-progress",
        "--no-tensorboard", "--no-plot"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(out: Path, epochs: int, nproc: int | None = None, program=("-m", "infantpose.toy")) -> subprocess.Popen:
    "Start the command line alone (`nproc=None`) or under torchrun with `nproc` processes."
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(_free_port())] \
        if nproc else []
    cmd = [sys.executable, *launcher, *program, "--epochs", str(epochs), "--out-dir", str(out), *ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"): env.pop(k, None)
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen) -> str:
    try: out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired: proc.kill(); out, err = proc.communicate()
    assert proc.returncode == 0, f"{' '.join(proc.args)} failed:\n{out}\n{err}"
    return out


def _csv(path: Path, column: str) -> list[float]:
    with open(path, newline="") as f: return [float(r[column]) for r in csv.DictReader(f)]


def test_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    single = _start(one, epochs=2)                                          # the reference, alongside the others
    try:
        _wait(_start(two, epochs=1, nproc=2))
        out = _wait(_start(two, epochs=2, nproc=2))                         # resumes from epoch 1 on both ranks
    finally:
        _wait(single)
    assert "on 2 process(es)" in out and out.count("steps on") == 1         # only rank 0 prints
    a = torch.load(one / "last.pt", map_location="cpu", weights_only=True)
    b = torch.load(two / "last.pt", map_location="cpu", weights_only=True)
    assert a["step"] == b["step"] == 8 and b["world_size"] == 2 and len(b["rng_ranks"]) == 2
    assert list(a["model"]) == list(b["model"])                             # no `module.` prefix
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=0, atol=1e-6, msg=lambda m: f"{k}: {m}")
    for name, column in (("log.csv", "loss"), ("metrics.csv", "val_loss")):
        la, lb = _csv(one / name, column), _csv(two / name, column)
        assert len(la) == len(lb) > 0, name
        torch.testing.assert_close(torch.tensor(lb), torch.tensor(la), rtol=0, atol=1e-6)


def regda_run(out: str):
    "RegDA on toy source / target pairs (no BatchNorm anywhere, so 1 and 2 processes must agree); run by torchrun or alone."
    from infantpose.distributed import distributed_run, setup_distributed
    from infantpose.pipeline import PairedDataset
    from infantpose.regda import RegDANet, regda, regda_train_config
    from infantpose.toy import ToyHeatmapDataset, ToyPoseNet
    from infantpose.train import fit
    setup_distributed("cpu")
    with distributed_run():
        torch.manual_seed(0)
        net = RegDANet(ToyPoseNet(2, width=8), adv_layers=1)
        pair = PairedDataset(ToyHeatmapDataset(32, seed=0), ToyHeatmapDataset(32, seed=1), seed=0)
        config = regda_train_config(epochs=2, batch_size=8, lr=0.01, max_steps_per_epoch=None, out_dir=out,
                                    progress=False, tensorboard=False, plot=False, log_every=2)
        fit(net, pair, config, hooks=regda(net))


def test_regda_two_processes_match_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    program = [str(Path(__file__)), "regda"]
    single = _start(one, 2, None, program)
    try: _wait(_start(two, 2, 2, program))
    finally: _wait(single)
    a = torch.load(one / "last.pt", map_location="cpu", weights_only=True)
    b = torch.load(two / "last.pt", map_location="cpu", weights_only=True)
    assert a["step"] == b["step"] == 8 and b["world_size"] == 2
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=0, atol=1e-6, msg=lambda m: f"{k}: {m}")
    la, lb = _csv(one / "log.csv", "loss_true"), _csv(two / "log.csv", "loss_true")
    torch.testing.assert_close(torch.tensor(lb), torch.tensor(la), rtol=0, atol=1e-6)


if __name__ == "__main__" and sys.argv[1:2] == ["regda"]:
    regda_run(sys.argv[sys.argv.index("--out-dir") + 1])
