"""Where training runs. A training step never waits for the device: what the loop reads on the
host it reads at log and checkpoint steps only, so a GPU can run ahead of Python. The tests
marked `gpu` check what only a GPU does; they are skipped where there is none."""

import pandas as pd
import pytest
import torch

from conftest import TINY, build_model, load_last, mixed_table, run_console_script, settings_of, whole_and_resumed
from ganxfer import checkpoint
from ganxfer.data import prepare
from ganxfer.objective import Objective
from ganxfer.data.rows import DeviceRows
from ganxfer.training.loop import GAN, Callbacks, Schedule, StepContext, fit

# Every way a tensor's value reaches Python, each of which waits for a GPU to catch up.
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy")
# Lazy R1 and instance noise, so that the objective's step-dependent parts run too.
LOSS = settings_of("loss", {"name": "ns", "r1_gamma": 0.1, "r1_every": 2, "gp_weight": 0.0, "instance_noise": 0.1,
                         "adversarial_weight": 1.0, "feature_matching": 0.0, "moment_matching": 0.0,
                         "moment_distance": "euclidean"})


def train(steps: int, device: str = "cpu", precision: str = "32") -> None:
    """`steps` steps with one log row and one checkpoint, at the end: G's warmed-up average,
    gradient clipping and two discriminator updates a step included."""
    torch.manual_seed(0)
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 8, "g_layers": 1,
                                             "d_hidden": 8, "d_layers": 1}, 3)
    gan = GAN.create(generator.to(device), discriminator.to(device), 1e-3, 1e-3, (0.5, 0.999), ema_decay=0.9,
                     ema_warmup=True)
    data = torch.rand(32, 3, device=device) * 2 - 1
    rng = torch.Generator(device=device).manual_seed(0)
    schedule = Schedule(steps, batch_size=8, log_every=steps, ckpt_every=steps, d_steps=2, grad_clip=1.0,
                        precision=precision)
    fit(StepContext(gan, Objective(LOSS, data, steps, rng), rng, schedule), DeviceRows(data), Callbacks())


def host_reads(steps: int) -> int:
    """How many times a run of `steps` steps reads a tensor's value on the host."""
    reads = 0

    def counted(read):
        def read_and_count(tensor, *args, **kwargs):
            nonlocal reads
            reads += 1
            return read(tensor, *args, **kwargs)
        return read_and_count

    with pytest.MonkeyPatch.context() as patch:
        for name in HOST_READS:
            patch.setattr(torch.Tensor, name, counted(getattr(torch.Tensor, name)))
        train(steps)
    return reads


def test_the_steps_between_log_and_checkpoint_steps_read_nothing_on_the_host():
    reads = host_reads(10)
    assert reads > 0  # the log row's losses and the checks of the checkpoint step: the count sees them
    assert host_reads(40) == reads


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_rows_in_memory_move_to_the_device_once_and_every_step_draws_from_them_there(tmp_path, device):
    mixed_table(0).to_csv(tmp_path / "rows.csv", index=False)
    prepared = prepare(settings_of("data", {"name": "csv", "path": str(tmp_path / "rows.csv")}))  # as data=csv composes it
    assert prepared.rows.device.type == "cpu"  # prepared on the host...
    rows = prepared.rows.to(device)  # ...and moved once, by the run
    first = rows.for_step(1)
    assert first.device.type == device and len(first) == len(rows) == len(prepared.positions)
    assert all(rows.for_step(step) is first for step in (2, 1000))  # no copy at any step
    assert rows.position(7) is None and rows.describe() == f"{len(rows)} training rows"


def sync_warnings(steps: int) -> int:
    """How many times a run of `steps` steps on the GPU waits for it (torch's sync debug mode
    warns at each wait)."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with pytest.warns(UserWarning) as caught:
            train(steps, device="cuda")
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(warning.message) for warning in caught)


@pytest.mark.gpu
def test_a_training_step_on_cuda_never_waits_for_the_device():
    train(2, device="cuda")  # the first run pays CUDA's own start-up
    waits = sync_warnings(10)
    assert waits > 0  # the log row's read waits, and the debug mode sees it
    assert sync_warnings(40) == waits


def all_tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from all_tensors(item)


@pytest.mark.gpu
def test_a_checkpoint_written_on_cuda_loads_and_samples_on_a_machine_without_one(ganxfer, tmp_path, monkeypatch):
    run = ganxfer("pretrain", *TINY, "trainer.device=cuda")
    state = checkpoint.load(run / "checkpoints" / "last.ckpt")
    assert {tensor.device.type for tensor in all_tensors(state["networks"])} == {"cpu"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the sampling process sees no GPU: device auto is the CPU
    result = run_console_script(tmp_path, "sample", f"ckpt={run / 'checkpoints' / 'last.ckpt'}", "n=20",
                                f"out={tmp_path / 'rows.csv'}", f"hydra.run.dir={tmp_path / 'sampled'}")
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "rows.csv")) == 20


def generator_weights(run_dir) -> torch.Tensor:
    return torch.cat([value.flatten() for value in load_last(run_dir)["networks"]["generator"].values()])


@pytest.mark.gpu
def test_bf16_and_fp16_autocast_on_cuda_train_and_save_float32_weights(ganxfer):
    full = generator_weights(ganxfer("pretrain", *TINY, "trainer.device=cuda"))
    for precision in ("bf16", "fp16"):
        weights = generator_weights(ganxfer("pretrain", *TINY, "trainer.device=cuda",
                                            f"trainer.precision={precision}"))
        assert weights.dtype == torch.float32 and torch.isfinite(weights).all()
        assert not torch.equal(weights, full)  # the forward passes really ran in 16 bits
        assert torch.allclose(weights, full, atol=0.05)  # ... and still trained the same way


@pytest.mark.gpu
def test_compiled_training_on_cuda_matches_eager(ganxfer):
    """The default compiler, which makes GPU kernels of its own (Triton)."""
    eager = ganxfer("pretrain", *TINY, "trainer.device=cuda")
    compiled = ganxfer("pretrain", *TINY, "trainer.device=cuda", "trainer.compile=true")
    difference = (generator_weights(compiled) - generator_weights(eager)).abs().max()
    assert difference < 1e-3, difference


@pytest.mark.gpu
def test_resume_on_cuda_continues_exactly(ganxfer):
    whole, resumed = whole_and_resumed(ganxfer, "pretrain", *TINY, "trainer.device=cuda")
    assert torch.equal(whole["rng"]["batches"], resumed["rng"]["batches"])
