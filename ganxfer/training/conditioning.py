"""What conditional runs add to training: the strategies a conditional model refuses, and labels
new to a source model (a new domain, new classes) with embedding rows that start at the mean of
the source's."""

from ganxfer.checkpoint import sampler_weights
from ganxfer.data import Schema
from ganxfer.errors import UserError
from ganxfer.models.conditional import with_new_classes
from ganxfer.settings import Model, Transfer

# Strategies that would go wrong with a conditional model, and why; the others work as they are
# (the class embeddings are ordinary weights: trained, frozen with their network's blocks only
# when those blocks are, anchored by L2-SP, left whole by SVD).
REFUSED = {
    "scale_shift": "it freezes G's class embedding, so labels new to the target would all keep the "
                   "same (mean) embedding and could not be told apart",
    "ewc": "its Fisher information is measured on the source generator's samples without labels",
    "minegan": "its miner maps z alone; mining a conditional generator would need the label too",
    "cdc": "its penalty compares the source and target generators on z alone, without labels",
    "dcl": "its penalty compares the source and target generators on z alone, without labels",
}


def check_strategy_takes_labels(strategy: str) -> None:
    """Refuse, before any work, a strategy that cannot fine-tune a conditional model."""
    if strategy in REFUSED:
        raise UserError(f"transfer={strategy} does not work with a conditional model: "
                        f"{REFUSED[strategy]}. Use full, scratch, freeze_d, freeze_g, l2sp or svd")


def source_weights(source: dict, generator, discriminator, schema: Schema) -> tuple[dict, dict]:
    """The source's EMA generator and D weights, fitted to networks that may know more labels
    than the source did: each new label's embedding row (G's, and D's projection or one-hot
    weights) starts at the mean of the source labels' rows. A new domain thus starts as the
    source domains' average, and classes the source never saw (digits 0-4 -> 5-9) start alike
    and part as training goes on."""
    g_state, d_state = sampler_weights(source["networks"]), source["networks"]["discriminator"]
    if schema.condition is None:
        return g_state, d_state
    known = Schema.from_dict(source["schema"]).classes
    return with_new_classes(generator, g_state, known), with_new_classes(discriminator, d_state, known)


def check_new_labels(transfer: Transfer, model: Model, schema: Schema, source: dict) -> None:
    """Refuse what cannot work when the target has labels the source did not know."""
    new = schema.classes - Schema.from_dict(source["schema"]).classes
    if new <= 0:
        return
    if transfer.load_optimizer:
        raise UserError("transfer.load_optimizer=true cannot carry the source's optimiser states over: the "
                        f"target has {new} label(s) the source did not know, so the embeddings grew")
    # With concat, D tells labels apart by the one-hot's weights in its first layer; the new
    # labels' weights start equal (the mean), and stay equal if that layer cannot change them.
    strategy = transfer.name
    freezes_them = (strategy == "freeze_d" and transfer.freeze_layers > 0) or strategy == "svd"
    if model.conditioning == "concat" and freezes_them:
        raise UserError(f"transfer={strategy} keeps D's first layer from telling the target's {new} new "
                        "label(s) apart (with model.conditioning=concat they are one-hot weights there, all "
                        "starting at the mean); use a projection model or another strategy")

