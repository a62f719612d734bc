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


def test_latest_is_the_newest_pretrain_checkpoint(tmp_path):
    older = tmp_path / "outputs/pretrain/a/checkpoints/last.ckpt"
    newer = tmp_path / "outputs/multirun/pretrain/b/0/checkpoints/last.ckpt"
    finetune = tmp_path / "outputs/finetune/c/checkpoints/last.ckpt"
    for path in (older, newer, finetune):  # written in this order: finetune is the newest file
        checkpoint.save(path, minimal_payload(1))
    assert checkpoint.resolve("latest", tmp_path / "outputs") == newer
    assert checkpoint.resolve("some/file.ckpt") == __import__("pathlib").Path("some/file.ckpt")
