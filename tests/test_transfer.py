"""Transfer strategies: what is frozen stays bit-identical and out of the optimiser, what trains
moves, penalties anchor at the source, and augmentation is differentiable."""


import pytest
import torch

from conftest import TINY, build_model, load_last, run_in_process, settings_of, whole_and_resumed
from ganxfer import checkpoint, cli
from ganxfer.objective import Objective
from ganxfer.transfer import SVD, get
from ganxfer.augment import Augment
from ganxfer.transfer.regularise import fisher_information

STEPS = ["trainer.steps=4", "trainer.log_every=2", "data.shots=20"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source")
    assert run_in_process("pretrain", *TINY, "model.g_layers=2", "model.d_layers=2", f"hydra.run.dir={folder}") == 0
    return folder / "checkpoints" / "last.ckpt"


def finetune(ganxfer, source, *overrides):
    return load_last(ganxfer("finetune", *TINY, "model.g_layers=2", *STEPS, f"ckpt={source}", *overrides))


def parameters(state: dict) -> dict:
    return {name: value for name, value in state.items() if not name.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def source_weights(source) -> dict:
    networks = checkpoint.load(source)["networks"]
    ema = {k.removeprefix("module."): v for k, v in networks["ema"].items() if k.startswith("module.")}
    return {"generator": parameters(ema), "discriminator": parameters(networks["discriminator"])}


def optimised_count(optimizer_state: dict) -> int:
    return sum(len(group["params"]) for group in optimizer_state["param_groups"])


# strategy -> (network, names that must stay frozen, names that must train)
FROZEN = {
    "freeze_d": ("discriminator", {"body.0.weight", "body.0.bias"}, {"body.2.weight", "head.weight"}),
    "freeze_g": ("generator", {"net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias"},
                 {"net.3.weight", "net.6.weight"}),
    "scale_shift": ("generator", {"net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias"},
                    {"net.1.weight", "net.1.bias", "net.4.weight", "net.6.weight"}),
}


@pytest.mark.parametrize("name", list(FROZEN))
def test_frozen_weights_stay_bit_identical_and_out_of_the_optimiser(ganxfer, source, name):
    network, frozen, trained = FROZEN[name]
    before = source_weights(source)[network]
    after = finetune(ganxfer, source, f"transfer={name}")
    weights = parameters(after["networks"][network])
    for key in frozen:
        assert torch.equal(weights[key], before[key]), key
    for key in trained:
        assert not torch.equal(weights[key], before[key]), key
    optimizer = after["networks"]["opt_g" if network == "generator" else "opt_d"]
    assert optimised_count(optimizer) == len(weights) - len(frozen)


def test_minegan_trains_the_miner_while_the_generator_is_frozen(ganxfer, source):
    before = source_weights(source)["generator"]
    after = parameters(finetune(ganxfer, source, "transfer=minegan", "transfer.mine_steps=10")["networks"]["generator"])
    for key, value in before.items():
        assert torch.equal(after[f"generator.{key}"], value), key
    assert after["miner.net.2.weight"].abs().sum() > 0  # started at zero


def test_minegan_trains_the_generator_after_mining(ganxfer, source):
    before = source_weights(source)["generator"]
    after = parameters(finetune(ganxfer, source, "transfer=minegan", "transfer.mine_steps=2")["networks"]["generator"])
    assert not torch.equal(after["generator.net.0.weight"], before["net.0.weight"])


def test_svd_reconstructs_the_source_weights_before_training():
    torch.manual_seed(0)
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 1,
                                             "d_hidden": 16, "d_layers": 1}, 6)
    weights = [m.weight.detach().clone() for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    SVD(None).adapt(generator, discriminator)
    adapted = [m.weight for m in generator.modules() if isinstance(m, torch.nn.Linear)]
    for original, now in zip(weights, adapted):
        torch.testing.assert_close(now, original, atol=1e-5, rtol=1e-5)


def test_svd_trains_only_singular_value_multipliers_and_biases(ganxfer, source):
    state = finetune(ganxfer, source, "transfer=svd")
    generator = state["networks"]["generator"]
    originals = [k for k in generator if k.endswith("parametrizations.weight.original")]
    before = source_weights(source)["generator"]
    for key in originals:
        assert torch.equal(generator[key], before[key.replace("parametrizations.weight.original", "weight")])
    assert any(not torch.equal(generator[k], torch.ones_like(generator[k])) for k in generator if k.endswith("multiplier"))
    assert optimised_count(state["networks"]["opt_g"]) == len(parameters(generator)) - len(originals) - \
        sum(k.endswith((".u", ".s", ".vh")) for k in generator)


def loss_cfg():
    return settings_of("loss", {"name": "ns", "r1_gamma": 0.0, "r1_every": 1, "gp_weight": 0.0, "instance_noise": 0.0,
                             "adversarial_weight": 1.0, "feature_matching": 0.0, "moment_matching": 0.0,
                             "moment_distance": "euclidean"})


@pytest.mark.parametrize("name, settings", [("l2sp", {"lambda_g": 1.0, "lambda_d": 1.0}),
                                            ("ewc", {"lambda_ewc": 1.0, "fisher_batches": 3})])
def test_penalties_are_zero_at_the_source_and_positive_after_a_step(name, settings):
    torch.manual_seed(0)
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 1,
                                             "d_hidden": 16, "d_layers": 1}, 6)
    objective = Objective(loss_cfg(), torch.randn(32, 6), 10, torch.Generator().manual_seed(0))
    get(settings_of("transfer", {"name": name, **settings})).regularise(objective, generator, discriminator, 8)
    penalties = objective.g_penalties + objective.d_penalties
    assert penalties and all(penalty().item() == 0 for penalty in penalties)
    with torch.no_grad():
        for parameter in [*generator.parameters(), *discriminator.parameters()]:
            parameter.add_(0.01)
    assert all(penalty().item() > 0 for penalty in penalties)


def test_fisher_information_is_non_negative_with_the_weights_shapes():
    torch.manual_seed(0)
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 1,
                                             "d_hidden": 16, "d_layers": 1}, 6)
    objective = Objective(loss_cfg(), torch.randn(32, 6), 10, torch.Generator().manual_seed(0))
    fisher = fisher_information(generator, discriminator, objective.loss.generator, 8, 3, objective.rng)
    for name, weight in generator.named_parameters():
        assert fisher[name].shape == weight.shape and (fisher[name] >= 0).all()
    assert sum(value.sum() for value in fisher.values()) > 0


def augment_cfg(name, p, **extra):
    base = {"name": name, "p": p, "adaptive": False, "r_target": 0.6, "interval": 2, "speed": 0.5,
            "brightness": 0.25, "translation": 0.125, "cutout": 0.5, "jitter": 0.05, "dropout": 0.1}
    return settings_of("augment", {**base, **extra})


@pytest.mark.parametrize("name, shape", [("image", [8, 8]), ("tabular", None)])
def test_augmentation_is_differentiable_and_off_at_probability_zero(name, shape):
    rows = torch.rand(16, 64) * 2 - 1
    rng = torch.Generator().manual_seed(0)
    assert torch.equal(Augment(augment_cfg(name, 0.0), shape, rng, "cpu")(rows), rows)
    rows.requires_grad_(True)
    augmented = Augment(augment_cfg(name, 1.0), shape, rng, "cpu")(rows)
    assert augmented.shape == rows.shape and not torch.equal(augmented, rows)
    augmented.pow(2).sum().backward()
    assert rows.grad.abs().sum() > 0


def test_adaptive_probability_rises_when_the_discriminator_overfits():
    augment = Augment(augment_cfg("tabular", 0.2, adaptive=True), None, torch.Generator(), "cpu")
    for _ in range(2):
        augment.observe(torch.ones(8))  # every real row scored as real: r = 1 > 0.6
    assert augment.p.item() == pytest.approx(0.7)
    for _ in range(2):
        augment.observe(-torch.ones(8))
    assert augment.p.item() == pytest.approx(0.2)


def test_finetune_with_state_resumes_exactly(ganxfer, source):
    settings = [f"ckpt={source}", *TINY, "model.g_layers=2", "data.shots=20", "transfer=ewc",
                "transfer.fisher_batches=2", "augment=tabular", "augment.adaptive=true", "augment.interval=2"]
    whole, resumed = whole_and_resumed(ganxfer, "finetune", *settings)
    assert torch.equal(whole["augment"]["p"], resumed["augment"]["p"])
