"""trainer.precision: the training steps' forward passes under autocast, and fp16's loss scaling."""

import torch

from ganxfer.errors import UserError


class MixedPrecision:
    """Forward passes and losses under autocast to bf16 or fp16 (weights, optimiser states and
    evaluation stay in float32). fp16 also scales each loss, with a GradScaler per optimiser,
    so that small gradients do not underflow; with 32 or bf16 the scalers pass everything through."""

    DTYPES = {"32": None, "bf16": torch.bfloat16, "fp16": torch.float16}

    def __init__(self, precision: str, device: torch.device):
        if not torch.amp.is_autocast_available(device.type) and precision != "32":
            raise UserError(f"trainer.precision={precision} needs autocast, which {device.type} lacks; use 32")
        self.device_type, self.dtype = device.type, self.DTYPES[precision]
        scaling = precision == "fp16"
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=scaling)
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=scaling)

    def autocast(self):
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)
