"""Networks. They know nothing of files or configs beyond the few sizes they are built from:
`build` reads the `model` settings and hands each constructor plain numbers and lists."""

import torch

from ganxfer.errors import UserError
from ganxfer.settings import Model
from ganxfer.models import dcgan, mlp
from ganxfer.models.conditional import (CONDITIONINGS, ConcatDiscriminator, ConditionalGenerator,
                                        ProjectionDiscriminator)

Layout = list[tuple[str, int]]  # the generator's output blocks: ("tanh" | "softmax", width)


def build(model: Model, layout: Layout | int, image_shape: tuple[int, int, int] | None = None, classes: int = 0
          ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D for data whose encoded rows are laid out as `layout` (a plain width means that
    many tanh outputs); `image_shape` (C, H, W) when every row is an image; `classes`, the
    number of labels G and D are conditioned on when model.conditional is true."""
    layout = [("tanh", layout)] if isinstance(layout, int) else [(kind, int(width)) for kind, width in layout]
    builders = {"mlp": _mlp, "dcgan": _dcgan}
    if model.name not in builders:
        raise UserError(f"unknown model {model.name!r}; available: {', '.join(builders)}")
    if model.conditional:
        generator, discriminator = _conditional(builders[model.name], model, layout, image_shape, classes)
    else:
        generator, discriminator = builders[model.name](model, layout, image_shape)
    if model.spectral_norm:
        with_spectral_norm(discriminator)
    return generator, discriminator


def _mlp(model: Model, layout: Layout, image_shape, extra_z: int = 0, extra_d_inputs: int = 0):
    width = sum(size for _, size in layout)
    generator = mlp.Generator(model.z_dim + extra_z, model.g_hidden, model.g_layers, layout)
    return generator, mlp.Discriminator(width + extra_d_inputs, model.d_hidden, model.d_layers)


def _dcgan(model: Model, layout: Layout, image_shape, extra_z: int = 0, extra_d_inputs: int = 0):
    """extra_d_inputs: more channels of D's input image (a one-hot label as constant maps)."""
    if image_shape is None or any(kind != "tanh" for kind, _ in layout):
        raise UserError("model=dcgan generates images: use image data (data=image_csv, or data.shape=[C,H,W]); "
                        "tables take model=mlp")
    channels, height, width = (int(size) for size in image_shape)
    return (dcgan.Generator(model.z_dim + extra_z, model.g_channels, (channels, height, width)),
            dcgan.Discriminator(model.d_channels, (channels + extra_d_inputs, height, width)))


def _conditional(builder, model: Model, layout: Layout, image_shape, classes: int):
    """The unconditional G and D of `builder`, sized for the label's extra inputs, then wrapped."""
    conditioning = model.conditioning
    if conditioning not in CONDITIONINGS:
        raise UserError(f"model.conditioning={conditioning!r}; choose one of {', '.join(CONDITIONINGS)}")
    if classes < 1:
        raise UserError("model.conditional=true needs a label to condition on: set data.label=COLUMN")
    embed_dim = model.embed_dim
    concat = conditioning == "concat"
    generator, discriminator = builder(model, layout, image_shape, extra_z=embed_dim,
                                       extra_d_inputs=classes if concat else 0)
    # concat: a convolutional D gets the one-hot as constant channels, an MLP D as extra columns.
    channels_at = tuple(int(size) for size in image_shape) if model.name == "dcgan" else None
    discriminator = (ConcatDiscriminator(discriminator, classes, channels_at) if concat
                     else ProjectionDiscriminator(discriminator, classes))
    return ConditionalGenerator(generator, classes, embed_dim), discriminator


def with_spectral_norm(module: torch.nn.Module) -> torch.nn.Module:
    """Divide every linear and convolutional weight by its largest singular value, estimated by
    one power iteration per forward pass (Miyato et al. 2018): D becomes 1-Lipschitz per layer."""
    for layer in list(module.modules()):
        if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.utils.parametrizations.spectral_norm(layer)
    return module


@torch.no_grad()
def generate(generator: torch.nn.Module, n: int, seed: int, device, chunk: int = 8192,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """n rows from G in eval mode (BatchNorm uses its running statistics, one-hot blocks are
    exact one-hots), reproducible by seed; a conditional G takes one label index per row."""
    rng = torch.Generator(device=device).manual_seed(seed)
    generator.eval()
    rows = None  # filled chunk by chunk: no list of parts to concatenate, which would hold n rows twice
    for start in range(0, n, chunk):
        z = torch.randn(min(chunk, n - start), generator.z_dim, generator=rng, device=device)
        part = (generator(z) if labels is None else generator(z, labels[start:start + len(z)].to(device))).cpu()
        if rows is None:
            rows = torch.empty((n, part.shape[1]), dtype=part.dtype)
        rows[start:start + len(part)] = part
    return rows
