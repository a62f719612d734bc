"""trainer.precision (autocast, loss scaling for fp16) and trainer.compile on CPU."""

import sys

import pytest
import torch

from conftest import TINY, load_last
from ganxfer import cli


def generator_weights(run_dir) -> torch.Tensor:
    return torch.cat([value.flatten() for value in load_last(run_dir)["networks"]["generator"].values()])


def test_bf16_and_fp16_train_in_lower_precision_and_save_float32_weights(ganxfer):
    full = generator_weights(ganxfer("pretrain", *TINY, "trainer.precision=32"))
    for precision in ("bf16", "fp16"):
        state = load_last(ganxfer("pretrain", *TINY, f"trainer.precision={precision}"))
        weights = generator_weights_of(state)
        assert weights.dtype == torch.float32 and torch.isfinite(weights).all()
        assert not torch.equal(weights, full)  # the forward passes really ran in 16 bits
        assert torch.allclose(weights, full, atol=0.05)  # ... and still trained the same way


def generator_weights_of(state: dict) -> torch.Tensor:
    return torch.cat([value.flatten() for value in state["networks"]["generator"].values()])


def test_an_unknown_precision_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    with pytest.raises(SystemExit) as stop:
        cli.main(["pretrain", *TINY, "trainer.precision=fp8", "hydra.run.dir=run"])
    assert stop.value.code == 2
    assert "trainer.precision='fp8' must be 32, bf16 or fp16" in capsys.readouterr().err


def test_compiled_training_matches_eager_and_saves_plain_weights(ganxfer, monkeypatch):
    # TorchDynamo captures the graphs as with the default compiler, but hands them back to eager
    # PyTorch: the inductor's C++ code generation would take a minute on a small CPU.
    compile_module, compiled_networks = torch.nn.Module.compile, []

    def compile_eagerly(module):
        compiled_networks.append(type(module).__name__)
        compile_module(module, backend="eager")

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eagerly)
    eager = ganxfer("pretrain", *TINY)
    compiled = ganxfer("pretrain", *TINY, "trainer.compile=true")
    assert len(compiled_networks) == 2  # G and D
    state = load_last(compiled)
    for network in ("generator", "discriminator", "ema"):
        assert not any("_orig_mod" in key for key in state["networks"][network])
        assert state["networks"][network].keys() == load_last(eager)["networks"][network].keys()
    difference = (generator_weights(compiled) - generator_weights(eager)).abs().max()
    assert difference < 1e-4, difference
    ganxfer("sample", f"ckpt={compiled / 'checkpoints' / 'last.ckpt'}", "n=5")  # loads into a plain generator
