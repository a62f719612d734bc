"""Bad input given to the real `ganxfer` console script: each must end with a non-zero exit and
one short message that names the problem, never a Python traceback."""

import os
import pathlib
import subprocess
from importlib.resources import files
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from conftest import console_script
from ganxfer.cli import STAGES
from ganxfer.data import split_table

TINY = ["trainer.log_every=1", "trainer.ckpt_every=1", "trainer.batch_size=8", "trainer.device=cpu",
        "model.g_hidden=16", "model.d_hidden=16", "model.z_dim=4"]
ROWS = 10


def tiny(steps: int = 2) -> list[str]:
    return [f"trainer.steps={steps}", *TINY]


def ganxfer(cwd: pathlib.Path, *args) -> subprocess.CompletedProcess:
    """Runs the console script and checks that every file it was handed, or that was already in
    its folder, is byte for byte what it was before: a failed run never damages earlier outputs."""
    # HYDRA_FULL_ERROR=1 in the caller's environment would make Hydra print tracebacks.
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    before = contents(cwd, args)
    result = subprocess.run([console_script(), *map(str, args), f"hydra.run.dir={cwd / 'run'}"],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    after = contents(cwd, args)
    assert all(after.get(path) == data for path, data in before.items()), "an earlier output was changed or removed"
    return result


def contents(folder: pathlib.Path, args) -> dict[pathlib.Path, bytes]:
    """The files under `folder`, and those named by key=PATH arguments, with their bytes."""
    named = [pathlib.Path(str(arg).split("=", 1)[1]) for arg in args if "=" in str(arg)]
    paths = [*folder.rglob("*"), *(path if path.is_absolute() else folder / path for path in named)]
    return {path: path.read_bytes() for path in paths if path.is_file()}


def assert_failed_cleanly(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def assert_user_error(result: subprocess.CompletedProcess, *phrases: str) -> None:
    """Non-zero exit, no traceback, and one paragraph on stderr holding every phrase."""
    assert_failed_cleanly(result)
    message = result.stderr.strip()
    assert message and "\n\n" not in message, result.stderr
    for phrase in phrases:
        assert phrase.lower() in message.lower(), f"{phrase!r} not in: {message}"


def table(columns: tuple[str, ...]) -> pd.DataFrame:
    """ROWS rows of decimals: plainly continuous columns."""
    values = np.random.default_rng(0).normal(size=(ROWS, len(columns))).round(3)
    return pd.DataFrame(values, columns=list(columns))


def write_csv(path: pathlib.Path, columns: tuple[str, ...]) -> pathlib.Path:
    table(columns).to_csv(path, index=False)
    return path


def csv_args(path: pathlib.Path) -> list[str]:
    return ["data=csv", f"data.path={path}"]


class Source(NamedTuple):
    data: pathlib.Path
    checkpoint: pathlib.Path


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    """A tiny pretrain run (2 steps) on a CSV with columns x, income."""
    folder = tmp_path_factory.mktemp("source")
    data = write_csv(folder / "source.csv", ("x", "income"))
    result = ganxfer(folder, "pretrain", *csv_args(data), *tiny())
    assert result.returncode == 0, result.stderr
    return Source(data, folder / "run" / "checkpoints" / "last.ckpt")


DIRECTORY = object()


@pytest.mark.parametrize("content, phrase", [
    (None, "not found"),
    (DIRECTORY, "is a directory"),
    ("", "is empty"),
    ("x,y\n", "no data rows"),
    ("x,y\n1,2\n3,4,5\n6,7\n7,8\n", "well-formed CSV"),
    # pandas would silently take the first column as the row index here
    ("x,y\n1,2,3\n4,5\n6,7\n7,8\n", "well-formed CSV"),
], ids=["missing", "directory", "empty", "header-only", "ragged-row", "ragged-first-row"])
def test_unreadable_data_file(tmp_path, content, phrase):
    path = tmp_path / "data.csv"
    if content is DIRECTORY:
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    assert_user_error(ganxfer(tmp_path, "pretrain", *csv_args(path), *tiny()), phrase, "data.csv")


def held_out_and_training_row() -> dict[str, int]:
    """Row numbers of a ROWS-row CSV that data=csv holds out and trains on (split by data.split_seed)."""
    data_cfg = OmegaConf.create((files("ganxfer.conf") / "data" / "csv.yaml").read_text())
    split = split_table(pd.DataFrame({"x": range(ROWS)}), data_cfg)
    return {"holdout": int(split.holdout.index[0]), "train": int(split.train.index[0])}


@pytest.mark.parametrize("split", ["train", "holdout"])
@pytest.mark.parametrize("value, phrase", [("abc", "holds text"), ("inf", "infinite")], ids=["text", "inf"])
def test_bad_value_in_numeric_column(tmp_path, value, phrase, split):
    """Every row is checked, also those held out for evaluate: bad data must stop pretrain."""
    rows = table(("x", "income")).astype(object)
    rows.loc[held_out_and_training_row()[split], "income"] = value
    path = tmp_path / "data.csv"
    rows.to_csv(path, index=False)
    assert_user_error(ganxfer(tmp_path, "pretrain", *csv_args(path), *tiny()), phrase, "'income'")


def test_a_column_without_any_value(tmp_path):
    """Gaps are modelled (data.missing=model), but a column of gaps only has nothing to learn."""
    rows = table(("x", "income")).astype(object)
    rows["income"] = ""
    path = tmp_path / "data.csv"
    rows.to_csv(path, index=False)
    assert_user_error(ganxfer(tmp_path, "pretrain", *csv_args(path), *tiny()), "no values at all", "'income'")


@pytest.mark.parametrize("stage", ["finetune", "evaluate", "sample"])
def test_checkpoint_not_found(tmp_path, stage):
    assert_user_error(ganxfer(tmp_path, stage, "ckpt=nothing.ckpt"), "checkpoint not found", "nothing.ckpt")


def truncated(path: pathlib.Path, checkpoint: pathlib.Path) -> None:
    data = checkpoint.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("write, phrase", [
    (truncated, "not a readable ganxfer checkpoint"),
    (lambda path, _: torch.save({"a": 1}, path), "not a ganxfer checkpoint"),
    (lambda path, _: path.write_text("hello\n"), "not a readable ganxfer checkpoint"),
    (lambda path, _: write_csv(path, ("x", "y")), "not a readable ganxfer checkpoint"),
], ids=["truncated", "plain-dict", "text", "data-csv"])
def test_not_a_checkpoint(tmp_path, source, write, phrase):
    path = tmp_path / "bad.ckpt"
    write(path, source.checkpoint)
    assert_user_error(ganxfer(tmp_path, "evaluate", f"ckpt={path}"), phrase, "bad.ckpt")


class TouchOnLoad:
    """Unpickling this calls marker.touch(): a stand-in for any code a hostile file could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_checkpoint_that_runs_code_on_load_is_refused(tmp_path):
    marker, path = tmp_path / "payload-ran", tmp_path / "hostile.ckpt"
    torch.save(TouchOnLoad(marker), path)
    assert_user_error(ganxfer(tmp_path, "evaluate", f"ckpt={path}"), "refused", "hostile.ckpt")
    assert not marker.exists()
    # Control: the payload is live, so the marker's absence above means ganxfer refused it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_unknown_stage(tmp_path):
    assert_user_error(ganxfer(tmp_path, "pretrian"), "unknown stage 'pretrian'", *STAGES)


def test_unknown_config_key_lists_the_allowed_keys(tmp_path):
    result = ganxfer(tmp_path, "pretrain", "trainer.stepz=3")
    assert_user_error(result, "unknown setting 'trainer.stepz'", "steps", "batch_size", "on_nonfinite")
    assert not (tmp_path / "run").exists()  # refused before any work


@pytest.mark.parametrize("setting, phrase", [
    ("transfer=nope", "available options in 'transfer'"),
    ("trainer.steps=[1", "no viable alternative"),
], ids=["unknown-option", "unparsable"])
def test_settings_hydra_cannot_compose(tmp_path, setting, phrase):
    assert_user_error(ganxfer(tmp_path, "finetune", setting), phrase)


def test_unknown_key_of_the_chosen_group(tmp_path):
    """transfer.lambda_g exists for transfer=l2sp, not for the default transfer=full."""
    assert_user_error(ganxfer(tmp_path, "finetune", "transfer.lambda_g=1.0"), "transfer.lambda_g", "lr_g_mult")


@pytest.mark.parametrize("setting, phrase", [
    ("trainer.steps=many", "must be an integer"),
    ("trainer.ema=maybe", "must be true or false"),
    ("optimizer.lr_g=fast", "must be a number"),
    ("data.shots=10,lots", "data.shots='lots' must be an integer"),
    ("trainer.on_nonfinite=ignore", "stop or skip"),
    ("trainer.batch_size=null", "must be an integer >= 1"),
    ("trainer.final_metrics=[c2st,bogus]", "unknown metric(s) bogus"),
], ids=["text-for-int", "text-for-bool", "text-for-float", "in-a-sweep", "not-a-choice", "null", "unknown-metric"])
def test_value_of_the_wrong_type(tmp_path, setting, phrase):
    assert_user_error(ganxfer(tmp_path, "finetune", setting), setting.split("=")[0], phrase)


def test_diverging_training_names_the_step(tmp_path):
    result = ganxfer(tmp_path, "pretrain", *tiny(steps=4), "optimizer.lr_g=1e30", "optimizer.lr_d=1e30")
    assert_user_error(result, "diverged", "at step 1", "optimizer.lr_g")
    assert not list(tmp_path.glob("**/last.ckpt"))  # nothing written from blown-up weights


def test_resume_with_other_network_settings_names_the_difference(tmp_path, source):
    result = ganxfer(tmp_path, "pretrain", *csv_args(source.data), *tiny(steps=4), "model.g_hidden=32",
                     f"resume={source.checkpoint}")
    assert_user_error(result, "model.g_hidden: 16 -> 32", "other settings")


def test_latest_without_outputs(tmp_path):
    assert_user_error(ganxfer(tmp_path, "evaluate", "ckpt=latest"), "ckpt=latest", "no pretrain run")


def test_resume_with_fewer_steps_than_done(tmp_path, source):
    result = ganxfer(tmp_path, "pretrain", *csv_args(source.data), *tiny(steps=1), f"resume={source.checkpoint}")
    assert_user_error(result, "trainer.steps=1", "has done 2 steps already")


def test_finetune_on_different_columns(tmp_path, source):
    target = write_csv(tmp_path / "target.csv", ("x", "age"))
    result = ganxfer(tmp_path, "finetune", f"ckpt={source.checkpoint}", *csv_args(target), *tiny())
    assert_user_error(result, "columns differ", "income", "age")


def test_debug_shows_the_traceback(tmp_path):
    result = ganxfer(tmp_path, "evaluate", "ckpt=nothing.ckpt", "debug=true")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "checkpoint not found" in result.stderr


def test_invalid_values_are_named_before_any_work(tmp_path):
    result = ganxfer(tmp_path, "pretrain", "trainer.steps=0", "data.holdout=1.5", "augment=tabular", "augment.p=2")
    assert_user_error(result, "trainer.steps=0", "data.holdout=1.5", "augment.p=2")
    assert not list(tmp_path.glob("**/*.ckpt"))


def test_an_output_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    result = ganxfer(tmp_path, "pretrain", "hydra.run.dir=a_file/run", *tiny())
    assert_user_error(result, "hydra.run.dir=a_file/run", "not a writable folder")


def image_folder(folder: pathlib.Path, count: int = 8, size: int = 32, names: str = "good{}.png") -> pathlib.Path:
    """`count` random RGB images of size x size pixels in `folder`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / names.format(number))
    return folder


def truncated_image(path: pathlib.Path) -> None:
    image_folder(path.parent, count=1, names=f"{path.stem}_whole{path.suffix}")
    whole = path.with_name(f"{path.stem}_whole{path.suffix}")
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: len(data) // 2])


def other_modes(folder: pathlib.Path) -> None:
    """Images stored with transparency, a palette, 16 bits, one bit and CMYK, beside RGB ones."""
    from PIL import Image

    rgb = Image.open(image_folder(folder) / "good0.png")
    rgb.convert("RGBA").save(folder / "rgba.png")
    rgb.convert("LA").save(folder / "gray_alpha.png")
    rgb.convert("P").save(folder / "palette.png")
    rgb.convert("1").save(folder / "bilevel.png")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)).save(folder / "sixteen_bit.png")


IMAGES = ["data=images", "data.path=images", "model=dcgan", "model.z_dim=4", "model.g_channels=4",
          "model.d_channels=4", "trainer.steps=2", "trainer.log_every=1", "trainer.ckpt_every=1",
          "trainer.batch_size=8", "trainer.device=cpu"]


@pytest.mark.parametrize("build, settings, phrases", [
    (lambda folder: None, [], ["image folder not found", "images"]),
    (lambda folder: folder.mkdir(), [], ["is empty", "PNG or JPEG"]),
    (lambda folder: [folder.mkdir(), (folder / "notes.txt").write_text("hi"), (folder / "a.csv").write_text("x\n1\n")],
     [], ["no PNG or JPEG", "notes.txt"]),
    (lambda folder: folder.write_bytes(b"\x89PNG"), [], ["is a file", "data=image_csv"]),
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.png")], [],
     ["1 of 9", "cannot be read", "broken.png", "data.skip_bad=true"]),
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.jpg")], [],
     ["cannot be read", "broken.jpg", "truncated"]),
    (lambda folder: [image_folder(folder), (folder / "fake.png").write_text("not an image")], [],
     ["cannot be read", "fake.png", "cannot identify"]),
    (lambda folder: [image_folder(folder), image_folder(folder, count=2, size=16, names="tiny{}.png")], [],
     ["2 of 10", "smaller than data.shape's 32x32", "tiny0.png (16x16)", "data.skip_bad=true"]),
    (lambda folder: [image_folder(folder, size=16), truncated_image(folder / "broken.png")], ["data.skip_bad=true"],
     ["none of the 9", "unreadable: 1", "smaller than 32x32: 8"]),
    (lambda folder: image_folder(folder), ["data.shape=[4,32,32]"], ["data.shape=[4, 32, 32]", "1 channel", "3 (RGB)"]),
    (lambda folder: image_folder(folder), ["data.label=label"], ["no sub-folders", "data.label=null"]),
    (lambda folder: [image_folder(folder / "cat"), image_folder(folder, count=1, names="stray.png")],
     ["data.label=label"], ["1 image(s)", "outside the class sub-folders", "stray.png", "data.label=null"]),
], ids=["missing", "empty", "no-image-files", "a-file", "truncated-png", "truncated-jpeg", "not-an-image",
        "too-small", "nothing-usable", "four-channels", "flat-with-label", "stray-beside-classes"])
def test_bad_image_folder(tmp_path, build, settings, phrases):
    build(tmp_path / "images")
    assert_user_error(ganxfer(tmp_path, "pretrain", *IMAGES, *settings), *phrases)


@pytest.mark.parametrize("build, settings, phrases", [
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.png"),
                     image_folder(folder, count=2, size=16, names="tiny{}.png")],
     ["data.skip_bad=true"], ["left out 3 of 11", "1 unreadable, 2 smaller than 32x32"]),
    (other_modes, [], ["converted to RGB", "1 1 image(s)", "1 CMYK", "1 I;16", "1 LA", "1 P", "1 RGBA"]),
], ids=["skip-bad", "mixed-modes"])
def test_image_folder_with_files_left_out_or_converted(tmp_path, build, settings, phrases):
    """Not errors: the run goes on, and says what it left out or converted."""
    build(tmp_path / "images")
    result = ganxfer(tmp_path, "pretrain", *IMAGES, *settings)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stdout + result.stderr, result.stdout + result.stderr
