"""How many CPU threads a training run computes with (`trainer.threads`).

A GAN's step is a few dozen small operations. Below some size an operation is done sooner by one
thread than split over several. So `auto` takes one thread for small work, and more only where
each step is large enough to share (docs/training.md gives the measurements behind the threshold).

The count decides the order in which a matrix product sums its terms, and so the last bits of
the weights: `auto` chooses it from the model's size and the cores this process may use, never
from what else the machine is running, so that a fixed seed gives the same run however busy the
machine is."""

import os

import torch


# Multiply-adds of one step's forward passes (weights x batch rows), from which a second thread
# pays for itself; the measurements that chose it are in docs/training.md.
WORK_PER_THREAD = 10_000_000
MAX_AUTO_THREADS = 8  # beyond this the operations of a GAN step gain nothing measurable


def available_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def choose(setting, parameters: int, batch_size: int) -> int:
    """The thread count for trainer.threads=`setting`: an integer is taken as given; `auto` is 1
    for fewer than WORK_PER_THREAD weights x batch rows, else one thread per WORK_PER_THREAD, at
    most the available cores and MAX_AUTO_THREADS. An OMP_NUM_THREADS set in the environment is
    the user's choice too, and auto keeps to it."""
    if setting != "auto":  # checked with the other settings (settings.py:check_threads)
        return setting
    from_environment = os.environ.get("OMP_NUM_THREADS", "")
    if from_environment.isdigit() and int(from_environment) >= 1:
        return int(from_environment)
    wanted = parameters * batch_size // WORK_PER_THREAD
    return max(1, min(wanted, available_cores(), MAX_AUTO_THREADS))


def apply(count: int) -> None:
    """Intra-op threads (the threads one operation is split over) and, if nothing in this process
    has fixed them yet, inter-op threads (torch allows that once, before any parallel work)."""
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(count)
    except RuntimeError:  # already set, or parallel work has run: inter-op threads are fixed for good
        pass
