"""The networks: output heads that follow the data layout, and the DCGAN for 8x8 and 28x28 images."""

import pytest
import torch

from conftest import build_model
from ganxfer import models
from ganxfer.errors import UserError
from ganxfer.models.activations import BlockActivation

LAYOUT = [("tanh", 2), ("softmax", 3), ("tanh", 1), ("softmax", 2)]
MLP = {"name": "mlp", "z_dim": 8, "g_hidden": 32, "g_layers": 1, "d_hidden": 32, "d_layers": 1}
DCGAN = {"name": "dcgan", "z_dim": 16, "g_channels": 8, "d_channels": 8}


def softmax_blocks(rows: torch.Tensor) -> list[torch.Tensor]:
    return [rows[:, 2:5], rows[:, 6:8]]


def test_one_hot_blocks_are_exact_when_sampling():
    torch.manual_seed(0)
    generator, _ = build_model(MLP, LAYOUT)
    rows = models.generate(generator, 256, seed=0, device="cpu")
    assert rows.shape == (256, 8)
    for block in softmax_blocks(rows):
        assert set(block.unique().tolist()) == {0.0, 1.0} and (block.sum(1) == 1).all()
    tanh = torch.cat([rows[:, :2], rows[:, 5:6]], dim=1)
    assert tanh.abs().max() <= 1
    assert torch.equal(rows, models.generate(generator, 256, seed=0, device="cpu"))  # a seed reproduces samples


def test_one_hot_blocks_are_soft_and_differentiable_while_training():
    torch.manual_seed(0)
    generator, _ = build_model(MLP, LAYOUT)
    generator.train()
    rows = generator(torch.randn(64, generator.z_dim))
    for block in softmax_blocks(rows):
        torch.testing.assert_close(block.sum(1), torch.ones(64))
        assert ((block > 0.001) & (block < 0.999)).any()  # not rounded to one-hot
    softmax_blocks(rows)[0][:, 0].sum().backward()
    last_layer = generator.net[-1].weight.grad
    assert last_layer[2:5].abs().sum() > 0  # the gradient reaches the categorical logits


def test_sampled_categories_follow_the_softmax_of_the_logits():
    """Gumbel-max: argmax(logits + Gumbel noise) is a draw from softmax(logits)."""
    head = BlockActivation([("softmax", 3)]).eval()
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1])).expand(40_000, 3)
    noise = torch.randn(40_000, head.noise_dim, generator=torch.Generator().manual_seed(0))
    frequencies = head(logits, noise).mean(0)
    torch.testing.assert_close(frequencies, torch.tensor([0.6, 0.3, 0.1]), atol=0.01, rtol=0)


def test_the_generator_draws_its_gumbel_noise_from_z():
    generator, _ = build_model(MLP, LAYOUT)
    assert generator.z_dim == MLP["z_dim"] + 3 + 2  # one noise input per one-hot output
    generator.train()
    z = torch.randn(16, generator.z_dim)
    torch.manual_seed(1)
    first = generator(z)
    torch.manual_seed(2)
    assert torch.equal(first, generator(z))  # nothing random besides z: resumes are exact


def test_a_plain_width_means_all_tanh():
    generator, discriminator = build_model(MLP, 5)
    assert generator.z_dim == 8 and generator(torch.randn(4, 8)).shape == (4, 5)
    assert discriminator(torch.randn(4, 5)).shape == (4,)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 7, 9)])
def test_dcgan_sizes_itself_from_the_image_shape(shape):
    torch.manual_seed(0)
    width = shape[0] * shape[1] * shape[2]
    generator, discriminator = build_model(DCGAN, [("tanh", width)], shape)
    rows = generator(torch.randn(5, generator.z_dim))
    assert rows.shape == (5, width) and rows.abs().max() <= 1
    logits = discriminator(rows)
    assert logits.shape == (5,)
    logits.sum().backward()
    assert all(parameter.grad is not None for parameter in generator.parameters())


def test_dcgan_halves_each_side_down_to_at_least_four_pixels():
    convolutions = {size: sum(isinstance(m, torch.nn.ConvTranspose2d) for m in
                              build_model(DCGAN, [("tanh", size * size)], (1, size, size))[0].modules())
                    for size in (8, 28, 32)}
    assert convolutions == {8: 1, 28: 2, 32: 3}


def test_dcgan_needs_images_and_unknown_models_are_named():
    with pytest.raises(UserError, match="model=dcgan generates images"):
        build_model(DCGAN, LAYOUT)
    with pytest.raises(UserError, match="unknown model 'gpt'"):
        build_model({**MLP, "name": "gpt"}, LAYOUT)
