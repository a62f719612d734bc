"""Networks. They know nothing of files or configs beyond the few sizes they are built from."""

import torch

from ganxfer.errors import UserError
from ganxfer.models.mlp import Discriminator, Generator


def build(model_cfg, data_width: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    if model_cfg["name"] != "mlp":
        raise UserError(f"unknown model {model_cfg['name']!r}; available: mlp")
    generator = Generator(model_cfg["z_dim"], model_cfg["g_hidden"], model_cfg["g_layers"], data_width)
    discriminator = Discriminator(data_width, model_cfg["d_hidden"], model_cfg["d_layers"])
    if model_cfg.get("spectral_norm", False):
        with_spectral_norm(discriminator)
    return generator, discriminator


def with_spectral_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Divide every linear and convolutional weight by its largest singular value, estimated by
    one power iteration per forward pass (Miyato et al. 2018): D becomes 1-Lipschitz per layer."""
    for layer in list(module.modules()):
        if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.utils.parametrizations.spectral_norm(layer)
    return module


@torch.no_grad()
def generate(generator: Generator, n: int, seed: int, device, chunk: int = 8192) -> torch.Tensor:
    """n rows from G in eval mode (BatchNorm uses its running statistics), reproducible by seed."""
    rng = torch.Generator(device=device).manual_seed(seed)
    generator.eval()
    parts = [generator(torch.randn(min(chunk, n - start), generator.z_dim, generator=rng, device=device))
             for start in range(0, n, chunk)]
    return torch.cat(parts).cpu()
