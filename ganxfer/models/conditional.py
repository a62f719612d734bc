"""Class-conditional G and D, wrapped around the unconditional networks of mlp.py and dcgan.py.
The class is a label index in [0, classes): a class of the data (data.label) or, when several
source files are pretrained together, the file (domain) a row comes from.

G: a learnt embedding of the class is put in front of z, so the wrapped G sees a longer z.
D: `projection` (Miyato & Koyama 2018), logit = head(phi(x)) + <embed(y), phi(x)>, with phi the
wrapped D's penultimate features; or `concat`, a one-hot of the class appended to D's input (as
extra columns of a row, or as extra constant channels of an image)."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

CONDITIONINGS = ("projection", "concat")


class ConditionalGenerator(nn.Module):
    def __init__(self, generator: nn.Module, classes: int, embed_dim: int):
        super().__init__()
        self.embed = nn.Embedding(classes, embed_dim)
        self.inner = generator  # built for z_dim + embed_dim inputs
        self.z_dim = generator.z_dim - embed_dim  # what the training loop and generate() draw

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # In front: the mlp G reads its Gumbel noise from the last inputs of its z.
        return self.inner(torch.cat([self.embed(labels), z], dim=1))

    def class_parameters(self) -> dict[str, int]:
        """Parameter name -> the dimension along which its last `classes` entries are per class."""
        return {"embed.weight": 0}


class ProjectionDiscriminator(nn.Module):
    def __init__(self, discriminator: nn.Module, classes: int):
        super().__init__()
        self.inner = discriminator
        features = discriminator.head.in_features
        self.embed = nn.Embedding(classes, features)
        # Small enough that the class term starts no larger than the head's own logit.
        nn.init.normal_(self.embed.weight, std=features ** -0.5)

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner.features(x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        phi = self.inner.features(x)
        return self.inner.head(phi).squeeze(1) + (self.embed(labels) * phi).sum(1)

    def class_parameters(self) -> dict[str, int]:
        return {"embed.weight": 0}


class ConcatDiscriminator(nn.Module):
    def __init__(self, discriminator: nn.Module, classes: int, image_shape: tuple[int, int, int] | None):
        """`discriminator` is built for rows with `classes` more columns (tables) or an image
        with `classes` more channels (image_shape, without them)."""
        super().__init__()
        self.inner, self.classes, self.image_shape = discriminator, classes, image_shape

    def _with_label(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(labels, self.classes).to(x.dtype)
        if self.image_shape is None:
            return torch.cat([x, one_hot], dim=1)
        _, height, width = self.image_shape
        images = x.reshape(len(x), *self.image_shape)
        maps = one_hot[:, :, None, None].expand(-1, -1, height, width)
        return torch.cat([images, maps], dim=1).flatten(1)

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner.features(self._with_label(x, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.inner(self._with_label(x, labels))

    def class_parameters(self) -> dict[str, int]:
        # The first layer's weight: the one-hot's columns (or channels) are the last along dim 1.
        first = next(name for name, module in self.named_modules() if isinstance(module, (nn.Linear, nn.Conv2d)))
        layer = self.get_submodule(first)
        suffix = "parametrizations.weight.original" if parametrize.is_parametrized(layer, "weight") else "weight"
        return {f"{first}.{suffix}": 1}


class Conditioned:
    """A conditional network with its labels fixed for one batch: called, and asked for features,
    on rows alone, so that losses and penalties written for unconditional networks apply as they
    are (a gradient penalty mixes real and fake rows of the same labels)."""

    def __init__(self, network: nn.Module, labels: torch.Tensor):
        self.network, self.labels = network, labels

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x, self.labels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.network.features(x, self.labels)


def given(network: nn.Module, labels: torch.Tensor | None):
    """The network as the losses call it: itself when unconditional (labels None)."""
    return network if labels is None else Conditioned(network, labels)


def with_new_classes(network: nn.Module, state: dict, source_classes: int) -> dict:
    """`state` (a source's state_dict with `source_classes` classes) made to fit `network`,
    which knows more classes: every parameter with one entry per class gets the new classes'
    entries set to the mean of the source classes' entries, so a new class (a new domain, or a
    class the source never saw) starts as the source's average class. Spectral normalisation's
    power-iteration vectors of a layer that grew start afresh from the network's own."""
    state, own = dict(state), network.state_dict()
    for name, dim in network.class_parameters().items():
        source = state[name]
        known = source.narrow(dim, source.shape[dim] - source_classes, source_classes)
        added = own[name].shape[dim] - source.shape[dim]
        shape = list(source.shape)
        shape[dim] = added
        state[name] = torch.cat([source, known.mean(dim, keepdim=True).expand(shape)], dim=dim)
    for name, value in own.items():
        if name.endswith(("._u", "._v")) and state[name].shape != value.shape:
            state[name] = value
    return state
