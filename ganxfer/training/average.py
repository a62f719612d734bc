"""The generator's moving average, the network that samples are drawn from."""

import copy

import torch


class EMA(torch.nn.Module):
    """An exponential moving average of the generator's weights and buffers (BatchNorm statistics
    included): ema <- ema + (1 - beta) (current - ema). With warm-up, beta = min(decay, (1 + t) /
    (10 + t)) at the t-th update, so the average is not dominated by the first, random weights.
    (torch.optim.swa_utils.AveragedModel does the same but reads a counter on the host at every
    update, which stalls a GPU once per step.)"""

    def __init__(self, generator: torch.nn.Module, decay: float, warmup: bool = False):
        super().__init__()
        self.module = copy.deepcopy(generator).requires_grad_(False)
        self.decay, self.warmup = decay, warmup
        self.register_buffer("updates", torch.zeros((), dtype=torch.long, device=next(generator.parameters()).device))

    @torch.no_grad()
    def update(self, generator: torch.nn.Module) -> None:
        self.updates += 1
        beta = self.decay
        if self.warmup:
            beta = ((1 + self.updates) / (10 + self.updates)).clamp(max=self.decay)
        averaged, averaged_counters = _weights_and_counters(self.module)
        current, counters = _weights_and_counters(generator)
        # Multi-tensor calls for all the weights rather than one per tensor: on a GPU, a few kernel
        # launches instead of dozens at every step. torch._foreach_lerp_ takes its weight as a
        # number, and so would read warm-up's weight, a tensor on the device, on the host at every
        # update: that weight goes through a multiplication instead (ema + w (current - ema)).
        if self.warmup:
            moves = torch._foreach_sub(current, averaged)
            torch._foreach_mul_(moves, 1 - beta)
            torch._foreach_add_(averaged, moves)
        else:
            torch._foreach_lerp_(averaged, current, 1 - beta)
        if counters:
            torch._foreach_copy_(averaged_counters, counters)


def _weights_and_counters(module: torch.nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A module's floating-point tensors (weights, BatchNorm's statistics) and its integer ones
    (BatchNorm's batch count), each in the module's own order."""
    tensors = [*module.parameters(), *module.buffers()]
    return ([tensor for tensor in tensors if tensor.is_floating_point()],
            [tensor for tensor in tensors if not tensor.is_floating_point()])
