"""Cross-domain consistency (CDC) and its contrastive variant (DCL): the penalty starts at its
resting value and grows as G moves, the frozen source copy never changes, both fine-tune the MLP
and the DCGAN, and a resumed run continues exactly."""

import pytest
import torch

from conftest import TINY, build_model, load_last, run_in_process, settings_of, whole_and_resumed
from ganxfer import checkpoint
from ganxfer.errors import UserError
from ganxfer.objective import Objective
from ganxfer.transfer import get
from ganxfer.transfer.consistency import hidden_blocks, info_nce

TINY_MLP = [*TINY, "model.g_layers=2"]
TINY_DCGAN = [*(setting for setting in TINY if not setting.startswith(("model.g_hidden", "model.d_hidden"))),
              "model=dcgan", "model.g_channels=4", "model.d_channels=4"]
STRATEGIES = ["cdc", "dcl"]


@pytest.fixture(scope="module")
def mlp_source(tmp_path_factory):
    return pretrained(tmp_path_factory.mktemp("mlp_source"), *TINY_MLP)


@pytest.fixture(scope="module")
def dcgan_source(tmp_path_factory):
    return pretrained(tmp_path_factory.mktemp("dcgan_source"), *TINY_DCGAN)


def pretrained(folder, *overrides):
    assert run_in_process("pretrain", *overrides, f"hydra.run.dir={folder}") == 0
    return folder / "checkpoints" / "last.ckpt"


def loss_cfg():
    return settings_of("loss", {"name": "ns", "r1_gamma": 0.0, "r1_every": 1, "gp_weight": 0.0, "instance_noise": 0.0,
                             "adversarial_weight": 1.0, "feature_matching": 0.0, "moment_matching": 0.0,
                             "moment_distance": "euclidean"})


def regularised(name, model="mlp"):
    """A small G and the penalty the strategy adds for it, with its objective."""
    torch.manual_seed(0)
    settings = {"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 2, "d_hidden": 16, "d_layers": 1}
    if model == "dcgan":
        settings = {"name": "dcgan", "z_dim": 4, "g_channels": 4, "d_channels": 4}
    generator, discriminator = build_model(settings, 64, (1, 8, 8) if model == "dcgan" else None)
    strategy = get(settings_of("transfer", {"name": name, "weight": 1.0, "batch": 8, "layers": [], "tau": 0.07}))
    objective = Objective(loss_cfg(), torch.randn(32, 64), 10, torch.Generator().manual_seed(0))
    strategy.regularise(objective, generator, discriminator, 8)
    (penalty,) = objective.g_penalties
    return generator, strategy, penalty


@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_cdc_is_exactly_zero_at_the_source_and_grows_as_g_moves(model):
    generator, _, penalty = regularised("cdc", model)
    assert penalty().item() == 0
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    assert penalty().item() > 0


def test_dcl_grows_as_g_moves_away_from_the_source():
    generator, _, penalty = regularised("dcl")
    at_source = penalty().item()
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    assert penalty().item() > at_source


def test_info_nce_is_lower_for_the_same_rows_than_for_shuffled_ones():
    torch.manual_seed(0)
    features = torch.randn(16, 32)
    shuffled = features[torch.randperm(16)]
    assert info_nce(features, features, 0.07) < info_nce(features, shuffled, 0.07)


@pytest.mark.parametrize("name", STRATEGIES)
def test_the_penalty_trains_g_and_leaves_the_source_copy_as_it_was(name):
    generator, strategy, penalty = regularised(name)
    before = {key: value.clone() for key, value in strategy.state_dict().items()}
    optimizer = torch.optim.Adam(generator.parameters(), lr=0.01)
    with torch.no_grad():
        next(generator.parameters()).add_(0.1)  # so that CDC's gradient is not zero
    for _ in range(3):
        optimizer.zero_grad()
        penalty().backward()
        optimizer.step()
    assert generator.net[0].weight.grad.abs().sum() > 0  # a hidden layer (the output layer is not compared)
    assert all(parameter.grad is None for parameter in strategy.source.parameters())
    for key, value in strategy.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_the_hidden_blocks_are_the_mlp_layers_and_the_dcgan_blocks():
    mlp, _ = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 3, "d_hidden": 16,
                           "d_layers": 1}, 6)
    dcgan, _ = build_model({"name": "dcgan", "z_dim": 4, "g_channels": 4, "d_channels": 4}, 64, (1, 8, 8))
    assert len(hidden_blocks(mlp)) == 3
    assert len(hidden_blocks(dcgan)) == 2  # the projection and the one upsampling block of 8x8 images


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("model", ["mlp", "dcgan"])
def test_finetunes_keep_the_source_copy_bit_identical(ganxfer, mlp_source, dcgan_source, name, model):
    source, tiny = (mlp_source, TINY_MLP) if model == "mlp" else (dcgan_source, TINY_DCGAN)
    run = load_last(ganxfer("finetune", *tiny, "data.shots=20", f"ckpt={source}",
                            f"transfer={name}", "transfer.batch=8"))
    started_from = checkpoint.load(source)["networks"]["ema"]
    copy = run["transfer"]
    assert copy, "the source copy is saved in the checkpoint"
    for key, value in copy.items():
        assert torch.equal(value, started_from[f"module.{key}"]), key
    moved = run["networks"]["generator"]
    assert any(not torch.equal(moved[key], value) for key, value in copy.items())


@pytest.mark.parametrize("name", STRATEGIES)
def test_a_resumed_finetune_continues_exactly(ganxfer, mlp_source, name):
    settings = [f"ckpt={mlp_source}", *TINY_MLP, "data.shots=20", f"transfer={name}",
                "transfer.batch=8", "transfer.layers=[-1]"]
    whole_and_resumed(ganxfer, "finetune", *settings)


@pytest.mark.parametrize("settings, message", [({"layers": [5]}, "G does not have"),
                                               ({"batch": 1}, "at least 2")])
def test_settings_that_cannot_work_are_refused_clearly(settings, message):
    strategy = get(settings_of("transfer", {"name": "cdc", "weight": 1.0, "batch": 8, "layers": [], **settings}))
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 16, "g_layers": 2,
                                             "d_hidden": 16, "d_layers": 1}, 6)
    objective = Objective(loss_cfg(), torch.randn(32, 6), 10, torch.Generator())
    with pytest.raises(UserError, match=message):
        strategy.regularise(objective, generator, discriminator, 8)
