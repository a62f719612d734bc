"""Several processes training one run, as `torchrun` starts them (WORLD_SIZE > 1): data
parallelism with DistributedDataParallel. A single process (no WORLD_SIZE) never touches
torch.distributed, so it trains exactly as it would without this module.

What every rank shares: the networks (seeded alike, and broadcast from rank 0 when wrapped),
the averaged gradients, and so every weight at every step. What differs: the batches. Rank 0
draws from the run's seed exactly as a single process would; each other rank draws from a
stream seeded by (seed, rank, step), restarted at the start and at every checkpoint. So a
checkpoint holds rank 0's stream only, in the single-process format, and resuming it (in one
process or in as many as before) continues exactly.

Rank 0 alone writes: checkpoints, logs, pictures, metrics, console output."""

import os
import re
from contextlib import contextmanager
from datetime import datetime

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ganxfer.errors import UserError

# Stages that train; the others read one checkpoint and have nothing to share out.
PARALLEL_STAGES = ("pretrain", "finetune")


def launched() -> bool:
    """True in a process that torchrun started as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    return rank() == 0


@contextmanager
def process_group():
    """Join the other processes of the run for as long as the block lasts (nothing to do alone)."""
    if not launched():
        yield
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    try:
        dist.init_process_group()  # no backend named: gloo for CPU tensors, and nccl for CUDA ones where it exists
    except (ValueError, RuntimeError) as err:
        raise UserError(f"WORLD_SIZE={os.environ['WORLD_SIZE']}, but this process could not join the others "
                        f"({str(err).splitlines()[0]}); start several processes with torchrun") from None
    try:
        yield
    finally:
        dist.destroy_process_group()


def check_launch(stage: str, args: list[str]) -> None:
    """What torchrun cannot run, refused before any process waits for another."""
    if stage not in PARALLEL_STAGES:
        raise UserError(f"{stage} runs in one process: start it with `ganxfer {stage}`, not torchrun "
                        f"(torchrun is for {' and '.join(PARALLEL_STAGES)})")
    if "-m" in args or "--multirun" in args:
        raise UserError("a sweep (-m) starts its own jobs and cannot run under torchrun: start the sweep "
                        "with `ganxfer`, or start one torchrun per job")


def hydra_overrides(args: list[str], default_run_dir: str) -> list[str]:
    """`args` with Hydra settings that give every rank rank 0's run directory (its `${now:...}`
    resolved with rank 0's clock, so that ranks started a second apart agree), and that keep the
    other ranks' Hydra from writing its config copy and log file there."""
    given = [arg.split("=", 1)[1] for arg in args if arg.startswith("hydra.run.dir=")]
    pattern = given[-1] if given else default_run_dir
    clock = torch.tensor([datetime.now().timestamp()], dtype=torch.float64)
    dist.broadcast(clock, src=0)
    start = datetime.fromtimestamp(float(clock))
    run_dir = re.sub(r"\$\{now:([^}]*)\}", lambda match: start.strftime(match.group(1)), pattern)
    shared = [arg for arg in args if not arg.startswith("hydra.run.dir=")] + [f"hydra.run.dir={run_dir}"]
    if not is_main():
        shared += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return shared


def describe(device: torch.device) -> str:
    """Where the run trains, e.g. `cpu` or `4 processes (cuda)`."""
    return f"{dist.get_world_size()} processes ({device.type})" if active() else str(device)


def device(chosen: torch.device) -> torch.device:
    """A CUDA device without an index means this rank's own GPU (torchrun's LOCAL_RANK)."""
    if active() and chosen.type == "cuda" and chosen.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return chosen


def check_strategy(strategy) -> None:
    if active() and strategy.changes_trainable_weights:
        raise UserError(f"transfer={strategy.cfg.name} changes which weights train during the run, which "
                        "DistributedDataParallel cannot follow; run it in one process")


def parallel(network: torch.nn.Module) -> torch.nn.Module:
    """The network that a training step calls: wrapped to average its gradients over the ranks
    (and to start from rank 0's weights). On GPUs, BatchNorm layers become SyncBatchNorm, which
    normalises with the statistics of the whole batch over all ranks; torch provides SyncBatchNorm
    for GPUs only, so on CPU each rank normalises by its own batch and rank 0's running statistics
    are broadcast at every forward pass. The module itself, with its state_dict keys, is unchanged
    apart from that conversion, so checkpoints are written from it exactly as in one process."""
    if not active():
        return network
    on_gpu = next(network.parameters()).device.type == "cuda"
    if on_gpu:
        network = torch.nn.SyncBatchNorm.convert_sync_batchnorm(network)
    return DistributedDataParallel(network, device_ids=[torch.cuda.current_device()] if on_gpu else None)


def restart_stream(rng: torch.Generator, seed: int, step: int) -> None:
    """On ranks other than 0, restart the batch stream from (seed, rank, step); rank 0 keeps
    the stream a single process would use."""
    if rank() > 0:
        rng.manual_seed(int(np.random.SeedSequence([seed, rank(), step]).generate_state(1)[0]))


def any_rank(flag: bool) -> bool:
    """Whether `flag` holds on any rank (a collective: every rank must ask at the same step)."""
    if not active():
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value)


def every_rank(flag: bool) -> bool:
    return not any_rank(not flag)


def mean(value: torch.Tensor) -> torch.Tensor:
    """`value` averaged over the ranks (itself in one process)."""
    if not active():
        return value
    total = value.clone()
    dist.all_reduce(total)  # a sum: gloo has no average
    return total / dist.get_world_size()


def check_in_step(networks: dict[str, torch.nn.Module], step: int) -> None:
    """Every rank must hold the same weights (they apply the same averaged gradients): checked
    before each checkpoint, since the checkpoint is rank 0's alone."""
    if not active():
        return
    for name, network in networks.items():
        summary = torch.stack([torch.stack([p.detach().double().sum(), p.detach().double().pow(2).sum()])
                               for p in network.parameters()]).cpu()
        gathered = [torch.empty_like(summary) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, summary)
        if not all(torch.allclose(other, gathered[0], rtol=1e-6, atol=1e-9) for other in gathered):
            raise UserError(f"the ranks' {name} weights differ at step {step}: their gradients were not "
                            "averaged. Every rank must run the same ganxfer and settings")
