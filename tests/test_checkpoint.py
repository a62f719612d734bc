import os
import pathlib

import pytest
import torch

from ganxfer import checkpoint
from ganxfer.errors import UserError


def minimal_payload(step: int) -> dict:
    return {"stage": "pretrain", "step": step, "networks": {"w": torch.full((3,), float(step))},
            "transfer": {}, "augment": {}, "rng": {}, "config": {}, "schema": {"columns": []}, "split": {}}


def test_save_then_load_round_trips_with_format_and_versions(tmp_path):
    path = tmp_path / "last.ckpt"
    checkpoint.save(path, minimal_payload(7))
    loaded = checkpoint.load(path)
    assert loaded["step"] == 7 and loaded["format_version"] == checkpoint.VERSION
    assert torch.equal(loaded["networks"]["w"], torch.full((3,), 7.0))
    assert "torch" in loaded["versions"]


def test_a_failure_during_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    checkpoint.save(path, minimal_payload(1))
    before = path.read_bytes()

    def crash_midway(payload, file):
        file.write(b"partial bytes of a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError):
        checkpoint.save(path, minimal_payload(2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


def test_a_checkpoint_written_on_a_gpu_loads_on_a_cpu_only_machine(tmp_path, monkeypatch):
    path = tmp_path / "gpu.ckpt"
    # Tag every storage as CUDA, exactly what torch.save records for tensors on a GPU.
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    checkpoint.save(path, minimal_payload(3))
    monkeypatch.undo()
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)  # without map_location it cannot load here
    loaded = checkpoint.load(path, device="cpu")
    assert loaded["networks"]["w"].device.type == "cpu"


@pytest.mark.parametrize("payload, message", [
    ({"a": 1}, "not a ganxfer checkpoint"),
    ({**minimal_payload(1), "format": "ganxfer-checkpoint", "format_version": 99}, "newer"),
    ({"format": "ganxfer-checkpoint", "format_version": 1, "stage": "pretrain"}, "missing"),
])
def test_foreign_newer_and_incomplete_files_are_refused(tmp_path, payload, message):
    path = tmp_path / "bad.ckpt"
    torch.save(payload, path)
    with pytest.raises(UserError, match=message):
        checkpoint.load(path)


def write_runs(outputs, *runs: str) -> list:
    """A last.ckpt in each run folder, written in the order given (so the last is the newest file)."""
    paths = [outputs / run / "checkpoints" / "last.ckpt" for run in runs]
    for age, path in enumerate(paths):
        checkpoint.save(path, minimal_payload(1))
        os.utime(path, (1_000_000 + age, 1_000_000 + age))  # distinct times, whatever the clock's grain
    return paths


@pytest.mark.parametrize("stage, newest_of", [
    ("finetune", "pretrain"),   # a finetune starts from a source model, never from another finetune
    ("evaluate", "finetune"),   # the newest trained model of either kind
    ("sample", "finetune"),
])
def test_latest_means_what_each_stage_reads(tmp_path, stage, newest_of):
    older, newer_pretrain, newest_finetune = write_runs(
        tmp_path, "pretrain/a", "multirun/pretrain/b/0", "multirun/finetune/c/1")
    expected = {"pretrain": newer_pretrain, "finetune": newest_finetune}[newest_of]
    assert checkpoint.resolve("latest", checkpoint.LATEST_OF[stage], outputs=tmp_path) == expected


def test_latest_takes_a_newer_pretrain_over_an_older_finetune(tmp_path):
    _, pretrain = write_runs(tmp_path, "finetune/a", "pretrain/b")
    assert checkpoint.resolve("latest", checkpoint.LATEST_OF["sample"], outputs=tmp_path) == pretrain


def test_latest_says_which_file_it_picked(tmp_path, caplog):
    (path,) = write_runs(tmp_path, "pretrain/a")
    with caplog.at_level("INFO", logger="ganxfer"):
        checkpoint.resolve("latest", checkpoint.LATEST_OF["evaluate"], outputs=tmp_path)
    assert str(path) in caplog.text


def test_latest_reads_the_stage_from_the_runs_record(tmp_path):
    """A run in a folder of the user's naming (hydra.run.dir=outputs/mine) counts by its stage."""
    _, finetune = write_runs(tmp_path, "pretrain/a", "mine")
    (tmp_path / "mine" / ".hydra").mkdir()
    (tmp_path / "mine" / ".hydra" / "config.yaml").write_text("stage:\n  name: finetune\n")
    assert checkpoint.resolve("latest", checkpoint.LATEST_OF["sample"], outputs=tmp_path) == finetune


def test_a_path_is_taken_as_given(tmp_path):
    assert checkpoint.resolve("some/file.ckpt") == pathlib.Path("some/file.ckpt")
