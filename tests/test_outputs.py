"""A failed run's folder: taken away when it holds only Hydra's records, kept (and named) when
it holds anything the run or the user wrote."""

from pathlib import Path

from ganxfer import cli, outputs


def hydra_run_folder(folder: Path, stage: str = "pretrain") -> Path:
    """What Hydra writes before any ganxfer code runs, and the empty folder a stage makes early."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text("stage: {name: pretrain}\n")
    (folder / f"{stage}.log").write_text("")
    (folder / "checkpoints").mkdir()
    return folder


def test_a_folder_of_hydra_records_goes_with_the_parents_the_run_made(tmp_path):
    kept = outputs.folders_on_the_way(tmp_path / "outputs" / "pretrain" / "day" / "time")
    run = hydra_run_folder(tmp_path / "outputs" / "pretrain" / "day" / "time")
    assert outputs.discard_failed_run(run, kept)
    assert list(tmp_path.iterdir()) == []


def test_parents_that_were_there_before_stay(tmp_path):
    (tmp_path / "outputs").mkdir()
    kept = outputs.folders_on_the_way(tmp_path / "outputs" / "run")
    assert outputs.discard_failed_run(hydra_run_folder(tmp_path / "outputs" / "run"), kept)
    assert [path.name for path in tmp_path.iterdir()] == ["outputs"]


def test_a_checkpoint_keeps_the_folder(tmp_path):
    run = hydra_run_folder(tmp_path / "run")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    assert not outputs.discard_failed_run(run, set())
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == b"weights"


def test_a_folder_that_was_there_before_stays(tmp_path):
    run = hydra_run_folder(tmp_path / "run")
    assert not outputs.discard_failed_run(run, outputs.folders_on_the_way(run))
    assert (run / ".hydra" / "config.yaml").exists()


def test_a_sweep_loses_its_failed_job_and_keeps_its_finished_ones(tmp_path):
    sweep = tmp_path / "sweep"
    done = hydra_run_folder(sweep / "0")
    (done / "metrics.json").write_text("{}")
    hydra_run_folder(sweep / "1")
    (sweep / "multirun.yaml").write_text("")
    assert not outputs.discard_failed_run(sweep, {tmp_path})
    assert sorted(path.name for path in sweep.iterdir()) == ["0", "multirun.yaml"]


def test_the_run_folder_is_named_before_hydra_starts():
    from datetime import datetime

    overrides, folder = cli.pin_output_folder("finetune", ["--cfg", "job", "seed=1"])
    assert folder.startswith("outputs/finetune/") and "${" not in folder
    assert overrides == ["--cfg", "job", f"hydra.run.dir={folder}", "seed=1"]
    _, sweep = cli.pin_output_folder("pretrain", ["-m", "seed=1,2", "hydra.sweep.dir=s/${now:%Y}"])
    assert sweep == f"s/{datetime.now():%Y}"
    assert cli.pin_output_folder("pretrain", ["hydra.run.dir=${data.name}"]) == (["hydra.run.dir=${data.name}"], None)


def test_a_resumed_run_folder_is_its_last_checkpoints_unless_a_folder_is_given(tmp_path):
    run = hydra_run_folder(tmp_path / "run")
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    (run / "checkpoints" / "best.ckpt").write_bytes(b"")
    resume = f"resume={run}/checkpoints/last.ckpt"
    assert cli.pin_output_folder("pretrain", [resume]) == (
        [f"hydra.run.dir={run}", "hydra.output_subdir=null", resume], str(run))
    assert cli.pin_output_folder("pretrain", [resume, "hydra.run.dir=elsewhere"])[1] == "elsewhere"
    _, sweep = cli.pin_output_folder("pretrain", ["-m", resume, "seed=1,2"])  # a sweep has folders of its own
    assert sweep.startswith("outputs/multirun/pretrain/")
    (tmp_path / "copied" / "checkpoints").mkdir(parents=True)  # not a run folder: no .hydra/
    (tmp_path / "copied" / "checkpoints" / "last.ckpt").write_bytes(b"")
    for other in (f"{run}/checkpoints/best.ckpt", f"{run}/checkpoints/gone.ckpt",
                  f"{tmp_path}/copied/checkpoints/last.ckpt"):
        assert cli.pin_output_folder("pretrain", [f"resume={other}"])[1].startswith("outputs/pretrain/")
