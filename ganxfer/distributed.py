"""Several processes training one run, as `torchrun` starts them (WORLD_SIZE > 1): data
parallelism with DistributedDataParallel. A single process (no WORLD_SIZE) never touches
torch.distributed, so it trains exactly as it would without this module.

What every rank shares: the networks (seeded alike, and broadcast from rank 0 when wrapped),
the averaged gradients, and so every weight at every step; ADA's overfitting signal; when to
stop. What differs: the batches. Rank 0 draws from the run's seed exactly as a single process
would; each other rank restarts its stream at every step from (seed, rank, step). So a
checkpoint holds rank 0's stream only, in the single-process format, and resuming it from any
step (in one process or in as many as before) continues exactly.

Rank 0 alone writes: checkpoints, logs, pictures, metrics, console output."""

import gc
import logging
import os
import re
import sys
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


def first_process() -> bool:
    """Whether this is torchrun's process of rank 0, or the only one: known from the environment
    torchrun sets, before the process group is joined."""
    return int(os.environ.get("RANK", "0")) == 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if active() else 0


def processes() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


@contextmanager
def process_group():
    """Join the other processes of the run for as long as the block lasts (nothing to do alone)."""
    if not launched():
        yield
        return
    try:
        dist.init_process_group()  # no backend named: gloo for CPU tensors, and nccl for CUDA ones where it exists
    except (ValueError, RuntimeError) as err:
        raise UserError(f"WORLD_SIZE={os.environ['WORLD_SIZE']}, but this process could not join the others "
                        f"({str(err).splitlines()[0]}); start several processes with torchrun") from None
    yield
    # Only after a clean finish: after an error another rank may be inside a collective that this
    # one will never join, and tearing the group down would wait for it.
    # The ranks wait for each other (rank 0 writes the run's end alone), so that none leaves the
    # group while another still works in it.
    # Then garbage: without this collection, 2-process gloo runs here aborted at exit ("terminate
    # called without an active exception") in 5 runs of 69; with it, in none of 80. The objects
    # the command line froze out of the collector at its start (ganxfer/__main__.py) are handed
    # back first: garbage that reaches one of them is otherwise never collected, and the abort
    # came back.
    dist.barrier()
    gc.unfreeze()
    gc.collect()
    dist.destroy_process_group()


def end_process(code: int) -> None:
    """End a torchrun process whose run finished, here: its output and log files flushed, the
    interpreter's own teardown skipped. In that teardown a 2-process run's rank still aborted now
    and then ("terminate called without an active exception", seen in two full test runs under
    load), after its work was done and saved, and torchrun then reports the whole run as failed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    resolved by rank 0's clock, so that ranks started a second apart, or on nodes in other time
    zones, agree), and that keep the other ranks' Hydra from writing its config copy and log file
    there."""
    given = [arg.split("=", 1)[1] for arg in args if arg.startswith("hydra.run.dir=")]
    pattern = given[-1] if given else default_run_dir
    now = datetime.now()
    run_dir = [re.sub(r"\$\{now:([^}]*)\}", lambda match: now.strftime(match.group(1)), pattern)]
    dist.broadcast_object_list(run_dir, src=0, device=torch.device("cpu"))  # a CPU tensor: through gloo
    shared = [arg for arg in args if not arg.startswith("hydra.run.dir=")] + [f"hydra.run.dir={run_dir[0]}"]
    if not is_main():
        shared += ["hydra.output_subdir=null", "hydra/job_logging=disabled"]
    return shared


def describe(device: torch.device) -> str:
    """Where the run trains, e.g. `cpu` or `4 processes (cuda)`."""
    return f"{dist.get_world_size()} processes ({device.type})" if active() else str(device)


def device(chosen: torch.device) -> torch.device:
    """With several ranks, `cuda` means this rank's own GPU, the LOCAL_RANK-th of its node."""
    if not active() or chosen.type == "cpu":
        return chosen
    if chosen.type != "cuda" or chosen.index is not None:
        raise UserError(f"trainer.device={chosen} cannot be shared by several processes: under torchrun "
                        "use trainer.device=cuda (each process takes its own GPU) or cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if local_rank >= torch.cuda.device_count():
        raise UserError(f"this node has {torch.cuda.device_count()} GPU(s) for more processes: start "
                        "torchrun with --nproc_per_node at most the number of GPUs, or use trainer.device=cpu")
    torch.cuda.set_device(local_rank)  # also where nccl's collectives for this rank run
    return torch.device("cuda", local_rank)


def check_strategy(strategy) -> None:
    if active() and strategy.changes_trainable_weights:
        raise UserError(f"transfer={strategy.settings.name} changes which weights train during the run, which "
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
    """On ranks other than 0, restart the batch stream from (seed, rank, step), before each step,
    so that it needs no saving; rank 0 keeps the stream a single process would use."""
    if rank() > 0:
        entropy = [seed % 2**64, rank(), step]  # SeedSequence takes non-negative integers only
        rng.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))


def gathered(value) -> list:
    """`value` of every rank, in rank order, on every rank (pickled: for small tables and the like)."""
    if not active():
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def any_rank(flag: bool) -> bool:
    """Whether `flag` holds on any rank (a collective: every rank must ask at the same step)."""
    if not active():
        return flag
    value = torch.tensor([int(flag)])
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value)


def every_rank(flag: bool) -> bool:
    return not any_rank(not flag)


def earliest(step: int) -> int:
    """The earliest step over the ranks, where 0 means none (a collective, as any_rank)."""
    if not active():
        return step
    none = torch.iinfo(torch.int64).max
    value = torch.tensor([step or none])
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return 0 if int(value) == none else int(value)


def mean(value: torch.Tensor) -> torch.Tensor:
    """`value` averaged over the ranks (itself in one process)."""
    if not active():
        return value
    total = value.clone()
    dist.all_reduce(total)  # a sum: gloo has no average
    return total / dist.get_world_size()


def check_in_step(shared: dict[str, list[torch.Tensor]], step: int) -> None:
    """Every rank must hold the same weights (they apply the same averaged gradients) and the
    same other training state: checked before each checkpoint, since the checkpoint is rank 0's
    alone. `shared` names lists of tensors, e.g. {"generator": list(G.parameters())}."""
    if not active():
        return
    for name, tensors in shared.items():
        summary = torch.stack([torch.stack([t.detach().double().sum(), t.detach().double().pow(2).sum()])
                               for t in tensors]).cpu()
        gathered = [torch.empty_like(summary) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, summary)
        if not all(torch.allclose(other, gathered[0], rtol=1e-6, atol=1e-9) for other in gathered):
            raise UserError(f"the ranks' {name} state differs at step {step}: their gradients or signals were "
                            "not averaged. Every rank must run the same ganxfer and settings")
