"""What conditional runs add to the stages: data=multi conditions on the domain, a fine-tuned
multi-domain model takes its target as a new domain, and labels new to a source model get
embedding rows that start at the mean of the source's."""

from pathlib import Path

from omegaconf import open_dict

from ganxfer.data import Schema
from ganxfer.data.tables import DOMAIN
from ganxfer.errors import UserError
from ganxfer.models.conditional import with_new_classes
from ganxfer.train import sampler_weights

# Strategies that would go wrong with a conditional model, and why; the others work as they are
# (the class embeddings are ordinary weights: trained, frozen with their network's blocks only
# when those blocks are, anchored by L2-SP, left whole by SVD).
REFUSED = {
    "scale_shift": "it freezes G's class embedding, so labels new to the target would all keep the "
                   "same (mean) embedding and could not be told apart",
    "ewc": "its Fisher information is measured on the source generator's samples without labels",
    "minegan": "its miner maps z alone; mining a conditional generator would need the label too",
}


def condition_on_domain(cfg, stage: str) -> None:
    """data=multi pretrains one model conditioned on the domain."""
    if cfg.data.name == "multi" and stage == "pretrain":
        cfg.model.conditional = True


def follow_source(cfg, stage: str, source_schema: Schema) -> None:
    """A run from (or resuming) a conditional model. From a model conditioned on the domain,
    onto data that are not data=multi, every target row is one domain, named after the target
    file (or the bundled data set): a new one, unless a source domain has that name."""
    condition = source_schema.condition
    if condition is None:
        return
    if stage == "finetune" and cfg.transfer.name in REFUSED:
        raise UserError(f"transfer={cfg.transfer.name} does not work with a conditional model: "
                        f"{REFUSED[cfg.transfer.name]}. Use full, scratch, freeze_d, freeze_g, l2sp or svd")
    if condition.column == DOMAIN and cfg.data.name != "multi":
        with open_dict(cfg.data):
            cfg.data.domain = _domain_name(cfg.data)


def _domain_name(data_cfg) -> str:
    """The file's name without its extension; for bundled data, its name and classes (digits56789),
    as data=multi names the bundled digits' domains."""
    if data_cfg.get("path"):
        return Path(data_cfg.path).stem
    return data_cfg.name + "".join(map(str, data_cfg.classes or []))


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


def check_new_labels(cfg, schema: Schema, source: dict) -> None:
    """Refuse what cannot work when the target has labels the source did not know."""
    new = schema.classes - Schema.from_dict(source["schema"]).classes
    if new <= 0:
        return
    if cfg.transfer.load_optimizer:
        raise UserError("transfer.load_optimizer=true cannot carry the source's optimiser states over: the "
                        f"target has {new} label(s) the source did not know, so the embeddings grew")
    # With concat, D tells labels apart by the one-hot's weights in its first layer; the new
    # labels' weights start equal (the mean), and stay equal if that layer cannot change them.
    freezes_them = (cfg.transfer.name == "freeze_d" and cfg.transfer.freeze_layers > 0) or cfg.transfer.name == "svd"
    if cfg.model.conditioning == "concat" and freezes_them:
        raise UserError(f"transfer={cfg.transfer.name} keeps D's first layer from telling the target's {new} new "
                        "label(s) apart (with model.conditioning=concat they are one-hot weights there, all "
                        "starting at the mean); use a projection model or another strategy")

