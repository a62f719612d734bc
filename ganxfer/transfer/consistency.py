"""Strategies that train everything but keep the target generator's hidden features related to
the source generator's: what the source made of a batch of z, the target should still make of it.

Both keep a frozen copy of the generator the run starts from (the source), draw their own z batch
each step from the objective's random stream, and compare the two generators' hidden features on
it: the output of every hidden block (each [Linear -> BatchNorm -> ReLU] of the MLP; the
projection and each upsampling block of the DCGAN), or those chosen by `transfer.layers`.

The source copy runs in train mode, like the target: its BatchNorm layers normalise by the
statistics of the penalty's own batch, exactly as the target's do, so that the two generators
are compared on equal terms and the penalty is exactly zero while their weights are equal (eval
mode would compare the source's running statistics with the target's batch statistics). The
copy does not track running statistics, so nothing in it changes during the run."""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ganxfer.errors import UserError
from ganxfer.settings import Transfer
from ganxfer.transfer.base import Strategy


class FeatureConsistency(Strategy):
    """What CDC and DCL share: the frozen source copy, the z batch and the hidden features. A
    subclass says how two lists of per-layer features are compared (`distance`)."""

    def __init__(self, settings: Transfer):
        super().__init__(settings)
        self.source: nn.Module | None = None
        self.source_state: dict[str, torch.Tensor] = {}  # a resumed run's source copy, until it is built

    def regularise(self, objective, generator, discriminator, batch_size):
        _check_batch(self.settings.name, self.settings.batch)
        self.source = frozen_copy(generator, self.source_state or None)
        target_blocks = chosen(hidden_blocks(generator), self.settings.layers, self.settings.name)
        source_blocks = chosen(hidden_blocks(self.source), self.settings.layers, self.settings.name)
        device = next(generator.parameters()).device
        # Plain values: the penalty runs every step, and an OmegaConf lookup costs microseconds.
        weight, batch = float(self.settings.weight), int(self.settings.batch)

        def penalty() -> torch.Tensor:
            # Drawn from the run's own stream, which a checkpoint saves: a resumed run draws the same z.
            z = torch.randn(batch, generator.z_dim, generator=objective.rng, device=device)
            with torch.no_grad():
                source_features = hidden_features(self.source, source_blocks, z)
            target_features = hidden_features(generator, target_blocks, z)
            return weight * sum(self.distance(source, target)
                                for source, target in zip(source_features, target_features))

        objective.g_penalties.append(penalty)

    def distance(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def state_dict(self):
        # The copy itself, so that a resumed run compares with the very same source.
        return {} if self.source is None else dict(self.source.state_dict())

    def load_state_dict(self, state):
        self.source_state = dict(state)


class CDC(FeatureConsistency):
    """Cross-domain correspondence (Ojha et al. 2021, "Few-shot Image Generation via Cross-domain
    Correspondence"): for a batch z_1..z_N and each compared layer l, the similarities of row i to
    the other rows,

        p_i^l = softmax_{j != i} cos(G_src^l(z_i), G_src^l(z_j)),  q_i^l likewise for G_tgt,

    are kept close:  penalty = weight * sum_l mean_i KL(p_i^l || q_i^l).

    The target may change what it draws, but not how its samples relate to one another. The
    paper's anchor regions (applying the image-level adversarial loss only near a few anchor z)
    are not implemented: every sample gets the ordinary adversarial loss."""

    def distance(self, source, target):
        return _kl_between_rows(_similarity_log_softmax(source), _similarity_log_softmax(target))


class DCL(FeatureConsistency):
    """Dual contrastive learning, generator side (Zhao et al. 2022, "A Closer Look at Few-shot
    Image Generation"): each target feature is pulled toward the source feature of the same z and
    pushed from those of the other z in the batch, by InfoNCE with temperature tau,

        penalty = weight * sum_l mean_i -log( exp(cos(t_i, s_i) / tau) / sum_j exp(cos(t_i, s_j) / tau) ),

    with t_i = G_tgt^l(z_i) and s_j = G_src^l(z_j). Unlike CDC's it is not zero when the target
    equals the source: each row is then most like its own source row, but the other rows of the
    batch still take a share of the softmax. (The paper's discriminator-side term is not included.)"""

    def regularise(self, objective, generator, discriminator, batch_size):
        self.tau = float(self.settings.tau)
        super().regularise(objective, generator, discriminator, batch_size)

    def distance(self, source, target):
        return info_nce(target, source, self.tau)


def info_nce(queries: torch.Tensor, keys: torch.Tensor, tau: float) -> torch.Tensor:
    """Mean over rows i of the cross-entropy of picking keys[i] for queries[i] among all keys,
    by cosine similarity over tau."""
    logits = _cosine_matrix(queries, keys) / tau
    return F.cross_entropy(logits, torch.arange(len(queries), device=queries.device))


def frozen_copy(generator: nn.Module, state: dict[str, torch.Tensor] | None) -> nn.Module:
    """A copy of G (with `state`'s weights when given) that never trains or changes: no gradients,
    and BatchNorm that normalises by the batch but keeps its running statistics as they are."""
    source = copy.deepcopy(generator)
    if state is not None:
        source.load_state_dict(state)
    source.requires_grad_(False)
    source.train()
    for module in source.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.track_running_stats = False
    return source


def hidden_blocks(generator: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are G's hidden features: every ReLU, which ends each hidden block
    of the MLP and each projection or upsampling block of the DCGAN."""
    return [module for module in generator.modules() if isinstance(module, nn.ReLU)]


def chosen(blocks: list[nn.Module], layers, strategy: str) -> list[nn.Module]:
    """The blocks `transfer.layers` names by position (0 the first, -1 the last); all when empty."""
    if not blocks:
        raise UserError(f"transfer={strategy} compares the hidden features of G's blocks, and this "
                        "generator has none it recognises (a ReLU ending each hidden block)")
    if not layers:
        return blocks
    wrong = [layer for layer in layers if not -len(blocks) <= layer < len(blocks)]
    if wrong:
        raise UserError(f"transfer.layers={list(layers)} names block(s) {wrong} that G does not have: it has "
                        f"{len(blocks)} hidden block(s), numbered 0 to {len(blocks) - 1} (or -1 for the last)")
    return [blocks[layer] for layer in layers]


def hidden_features(generator: nn.Module, blocks: list[nn.Module], z: torch.Tensor) -> list[torch.Tensor]:
    """The outputs of `blocks` when G draws z, one (N, features) matrix per block."""
    features = []
    handles = [block.register_forward_hook(lambda module, inputs, output: features.append(output.flatten(1)))
               for block in blocks]
    try:
        generator(z)
    finally:
        for handle in handles:
            handle.remove()
    return features


def _cosine_matrix(rows: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    return F.normalize(rows, dim=1) @ F.normalize(others, dim=1).T


def _similarity_log_softmax(features: torch.Tensor) -> torch.Tensor:
    """Row i: log-softmax over j != i of cos(f_i, f_j), as an (N, N-1) matrix (the diagonal,
    always 1, is left out)."""
    similarity = _cosine_matrix(features, features)
    off_diagonal = ~torch.eye(len(features), dtype=torch.bool, device=features.device)
    return F.log_softmax(similarity[off_diagonal].view(len(features), -1), dim=1)


def _kl_between_rows(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(p || q), given log-probabilities; exactly 0 where they are equal."""
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def _check_batch(strategy: str, batch: int) -> None:
    if batch < 2:
        raise UserError(f"transfer.batch={batch} is too small for transfer={strategy}: it compares the "
                        "samples of a batch with one another, so it needs at least 2 (16 or more is usual)")
