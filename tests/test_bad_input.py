"""Bad input: each must end with a non-zero exit, one paragraph on stderr that names the
problem, never a Python traceback, no run folder left behind, and every file that was there
before (or that the command was handed) byte for byte as it was. Most cases run `ganxfer` in
this process; those marked `console` run the installed console script, as a user does."""

import pathlib
import subprocess
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import assert_failed_cleanly, assert_user_error, run_console_script, settings_of
from ganxfer import cli, stages, validate
from ganxfer.cli import STAGES
from ganxfer.data import split_table

TINY = ["trainer.log_every=1", "trainer.ckpt_every=1", "trainer.batch_size=8", "trainer.device=cpu",
        "model.g_hidden=16", "model.d_hidden=16", "model.z_dim=4"]
ROWS = 10


def tiny(steps: int = 2) -> list[str]:
    return [f"trainer.steps={steps}", *TINY]


def contents(folder: pathlib.Path, args) -> dict[pathlib.Path, bytes]:
    """The files under `folder`, and those named by key=PATH arguments, with their bytes."""
    named = [pathlib.Path(str(arg).split("=", 1)[1]) for arg in args if "=" in str(arg)]
    paths = [*folder.rglob("*"), *(path if path.is_absolute() else folder / path for path in named)]
    return {path: path.read_bytes() for path in paths if path.is_file() and "/proc/" not in str(path)}


def checked(run: Callable, cwd: pathlib.Path, *args) -> subprocess.CompletedProcess:
    """Runs `ganxfer *args` in cwd with `run`, and checks that every file it was handed, or that
    was already in its folder, is byte for byte what it was before."""
    before = contents(cwd, args)
    result = run(cwd, *args)
    after = contents(cwd, args)
    assert all(after.get(path) == data for path, data in before.items()), "an earlier output was changed or removed"
    return result


def table(columns: tuple[str, ...], rows: int = ROWS) -> pd.DataFrame:
    """Rows of decimals: plainly continuous columns."""
    values = np.random.default_rng(0).normal(size=(rows, len(columns))).round(3)
    return pd.DataFrame(values, columns=list(columns))


def write_csv(path: pathlib.Path, columns: tuple[str, ...]) -> pathlib.Path:
    table(columns).to_csv(path, index=False)
    return path


def csv_args(path) -> list[str]:
    return ["data=csv", f"data.path={path}"]


class Source(NamedTuple):
    data: pathlib.Path
    checkpoint: pathlib.Path


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    """A tiny pretrain run (2 steps) on a CSV with columns x, income, by the console script."""
    folder = tmp_path_factory.mktemp("source")
    data = write_csv(folder / "source.csv", ("x", "income"))
    result = run_console_script(folder, "pretrain", *csv_args(data), *tiny(), f"hydra.run.dir={folder / 'run'}")
    assert result.returncode == 0, result.stderr
    return Source(data, folder / "run" / "checkpoints" / "last.ckpt")


def held_out_and_training_row() -> dict[str, int]:
    """Row numbers of a ROWS-row CSV that data=csv holds out and trains on (split by data.split_seed)."""
    data = settings_of("data", {"name": "csv"})
    split = split_table(pd.DataFrame({"x": range(ROWS)}), data)
    return {"holdout": int(split.holdout.index[0]), "train": int(split.train.index[0])}


def with_value(value: str, split: str) -> str:
    """A ROWS-row CSV whose column income holds `value` in one row of the given split."""
    rows = table(("x", "income")).astype(object)
    rows.loc[held_out_and_training_row()[split], "income"] = value
    return rows.to_csv(index=False)


def truncated(checkpoint: pathlib.Path) -> bytes:
    data = checkpoint.read_bytes()
    return data[: len(data) // 2]


def torch_saved(payload) -> Callable[[Source], bytes]:
    def write(_) -> bytes:
        import io
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        return buffer.getvalue()
    return write


NUMBERS = "x,y\n" + "".join(f"{i}.5,{i * 2}.25\n" for i in range(ROWS))


@dataclass
class Case:
    args: tuple[str, ...]                       # after the stage; {data} and {ckpt} name the source run's files
    phrases: tuple[str, ...]                    # every one of these in the message
    files: dict = field(default_factory=dict)   # name -> text, bytes, or a function of the source run -> bytes
    absent: tuple[str, ...] = ()                # modules that are taken to be not installed
    console: bool = False                       # through the installed console script
    folders: tuple[str, ...] = ()               # folders made before the run


def absent_modules(monkeypatch, modules: tuple[str, ...]) -> None:
    """As if the packages were not installed: find_spec then raises for a dotted name whose parent
    package is absent (hydra_plugins), and answers None for a missing top-level module."""
    real = validate.find_spec

    def find_spec(name):
        if name in modules:
            if "." in name:
                raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")
            return None
        return real(name)

    monkeypatch.setattr(validate, "find_spec", find_spec)


CASES = {
    # Keys without a default, and stages that need a checkpoint
    "csv-without-path": Case(("pretrain", "data=csv"), ("data.path", "must be given", "data.path=")),
    "csv-without-path-console": Case(("pretrain", "data=csv"), ("data.path", "must be given"), console=True),
    "image-csv-without-shape": Case(("pretrain", "data=image_csv", "data.path=pixels.csv"), ("data.shape",),
                                    files={"pixels.csv": NUMBERS}),
    "finetune-without-ckpt": Case(("finetune",), ("needs a checkpoint", "ckpt=PATH")),
    "evaluate-without-ckpt": Case(("evaluate",), ("needs a checkpoint", "ckpt=PATH")),
    "sample-without-ckpt": Case(("sample",), ("needs a checkpoint", "ckpt=PATH")),
    "evaluate-empty-ckpt-list": Case(("evaluate", "ckpt=[]"), ("names no checkpoint",)),
    "latest-without-outputs": Case(("evaluate", "ckpt=latest"), ("ckpt=latest", "no finetune or pretrain run")),
    "finetune-latest-without-pretrain": Case(("finetune", "ckpt=latest"), ("ckpt=latest", "no pretrain run")),
    # data=from_checkpoint is evaluate's: the rows a checkpoint's run held out
    "pretrain-from-checkpoint-data": Case(("pretrain", "data=from_checkpoint"),
                                          ("data=from_checkpoint", "ganxfer evaluate", "data=csv data.path=")),
    "finetune-from-checkpoint-data": Case(("finetune", "ckpt={ckpt}", "data=from_checkpoint"),
                                          ("data=from_checkpoint", "ganxfer evaluate", "target", "data=csv data.path=")),
    # Optional extras that are not installed
    "optuna-search": Case(("finetune", "-m", "hparams_search=digits_optuna"), ("pip install 'ganxfer[sweeps]'",),
                           absent=("hydra_plugins.hydra_optuna_sweeper",)),
    "optuna-sweeper": Case(("finetune", "-m", "hydra/sweeper=optuna"), ("ganxfer[sweeps]",),
                           absent=("hydra_plugins.hydra_optuna_sweeper",)),
    "joblib-launcher": Case(("pretrain", "-m", "hydra/launcher=joblib"), ("pip install 'ganxfer[sweeps]'",),
                            absent=("hydra_plugins.hydra_joblib_launcher",)),
    "submitit-launcher": Case(("pretrain", "-m", "hydra/launcher=submitit_local"), ("ganxfer[sweeps]",),
                              absent=("hydra_plugins.hydra_submitit_launcher",)),
    "tensorboard": Case(("pretrain", "logger=tensorboard"), ("pip install 'ganxfer[tensorboard]'",),
                        absent=("tensorboard",)),
    "mlflow": Case(("pretrain", "logger=mlflow"), ("pip install 'ganxfer[mlflow]'",), absent=("mlflow",)),
    # Paths: files to read, folders to write in
    "data-missing": Case(("pretrain", "data=csv", "data.path=data.csv"), ("not found", "data.csv")),
    "data-is-a-folder": Case(("pretrain", "data=csv", "data.path=data.csv"), ("is a directory", "data.csv"),
                             folders=("data.csv",)),
    "multi-source-missing": Case(("pretrain", "data=multi", "data.sources=[nothere.csv]"), ("not found", "nothere.csv")),
    "ckpt-missing": Case(("evaluate", "ckpt=nothing.ckpt"), ("checkpoint not found", "nothing.ckpt")),
    "ckpt-missing-finetune": Case(("finetune", "ckpt=nothing.ckpt"), ("checkpoint not found", "nothing.ckpt")),
    "ckpt-missing-sample": Case(("sample", "ckpt=nothing.ckpt"), ("checkpoint not found", "nothing.ckpt")),
    "ckpt-is-a-folder": Case(("sample", "ckpt=folder"), ("checkpoint not found", "folder"), folders=("folder",)),
    "ckpt-truncated": Case(("evaluate", "ckpt=bad.ckpt"), ("not a readable ganxfer checkpoint", "bad.ckpt"),
                           files={"bad.ckpt": lambda source: truncated(source.checkpoint)}),
    "ckpt-plain-dict": Case(("evaluate", "ckpt=bad.ckpt"), ("not a ganxfer checkpoint", "bad.ckpt"),
                            files={"bad.ckpt": torch_saved({"a": 1})}),
    "ckpt-text": Case(("evaluate", "ckpt=bad.ckpt"), ("not a readable ganxfer checkpoint",), files={"bad.ckpt": "hello\n"}),
    "ckpt-csv": Case(("evaluate", "ckpt=bad.ckpt"), ("not a readable ganxfer checkpoint",), files={"bad.ckpt": NUMBERS}),
    "resume-missing": Case(("pretrain", "resume=nothere.ckpt"), ("checkpoint not found", "nothere.ckpt")),
    "report-folder-missing": Case(("report", "nothere"), ("no finished jobs", "nothere")),
    "out-folder-missing": Case(("sample", "ckpt={ckpt}", "out=nofolder/rows.csv"), ("out=", "does not exist")),
    "out-of-another-format": Case(("sample", "ckpt={ckpt}", "out=synth.xlsx"),
                                  ("out=synth.xlsx", ".csv", ".parquet", "folder of PNG files", "out=synth.csv")),
    "out-folder-with-a-dot": Case(("sample", "ckpt={ckpt}", "out=fakes.v2/"), ("out=fakes.v2/", "without an extension")),
    "out-is-a-folder": Case(("sample", "ckpt={ckpt}", "out=folder"), ("out=folder", "is a folder"),
                            folders=("folder",)),
    "out-unwritable": Case(("sample", "ckpt={ckpt}", "out=/proc/rows.csv"), ("out=/proc/rows.csv", "cannot be written")),
    "run-dir-under-a-file": Case(("pretrain", "hydra.run.dir=a_file/run"), ("hydra.run.dir=a_file/run", "not a folder"),
                                 files={"a_file": "not a folder"}),
    "run-dir-under-proc": Case(("pretrain", "hydra.run.dir=/proc/x/run"), ("hydra.run.dir=/proc/x/run",), console=True),
    "sweep-dir-under-proc": Case(("pretrain", "-m", "seed=1,2", "hydra.sweep.dir=/proc/x"), ("hydra.sweep.dir",)),
    "tracking-uri-unwritable": Case(("pretrain", "logger=mlflow", "logger.tracking_uri=/proc/x"),
                                    ("logger.tracking_uri=/proc/x",)),
    # Tables that cannot be read, or hold nothing to learn
    "empty-file": Case(("pretrain", "data=csv", "data.path=data.csv"), ("is empty",), files={"data.csv": ""}),
    "empty-file-console": Case(("pretrain", "data=csv", "data.path=data.csv"), ("is empty",), files={"data.csv": ""},
                               console=True),
    "header-only": Case(("pretrain", "data=csv", "data.path=data.csv"), ("no data rows",), files={"data.csv": "x,y\n"}),
    "ragged-row": Case(("pretrain", "data=csv", "data.path=data.csv"), ("well-formed CSV",),
                       files={"data.csv": "x,y\n1,2\n3,4,5\n6,7\n7,8\n"}),
    # pandas would silently take the first column as the row index here
    "ragged-first-row": Case(("pretrain", "data=csv", "data.path=data.csv"), ("well-formed CSV",),
                             files={"data.csv": "x,y\n1,2,3\n4,5\n6,7\n7,8\n"}),
    "one-row": Case(("pretrain", "data=csv", "data.path=data.csv"), ("1 row", "at least 2"), files={"data.csv": "x,y\n1,2\n"}),
    "every-column-constant": Case(("pretrain", "data=csv", "data.path=data.csv"), ("single value", "x, y"),
                                  files={"data.csv": "x,y\n" + "1,2\n" * ROWS}),
    "column-without-values": Case(("pretrain", "data=csv", "data.path=data.csv"), ("no values at all", "'income'"),
                                  files={"data.csv": "x,income\n" + "".join(f"{i},\n" for i in range(ROWS))}),
    "text-in-numbers-train": Case(("pretrain", "data=csv", "data.path=data.csv"), ("holds text", "'income'"),
                                  files={"data.csv": with_value("abc", "train")}),
    "text-in-numbers-holdout": Case(("pretrain", "data=csv", "data.path=data.csv"), ("holds text", "'income'"),
                                    files={"data.csv": with_value("abc", "holdout")}),
    "infinity-train": Case(("pretrain", "data=csv", "data.path=data.csv"), ("infinite", "'income'"),
                           files={"data.csv": with_value("inf", "train")}),
    "infinity-holdout": Case(("pretrain", "data=csv", "data.path=data.csv"), ("infinite", "'income'"),
                             files={"data.csv": with_value("inf", "holdout")}),
    "not-utf8": Case(("pretrain", "data=csv", "data.path=data.csv"), ("not UTF-8", "save it as UTF-8"),
                     files={"data.csv": "café,y\n1,2\n3,4\n".encode("latin-1")}),
    "binary-file": Case(("pretrain", "data=csv", "data.path=data.csv"), ("data.csv",),
                        files={"data.csv": bytes(range(256)) * 4}),
    "no-header": Case(("pretrain", "data=csv", "data.path=data.csv"), ("line of numbers", "names the columns"),
                      files={"data.csv": NUMBERS.split("\n", 1)[1]}),
    "repeated-column-name": Case(("pretrain", "data=csv", "data.path=data.csv"), ("'x' more than once",),
                                 files={"data.csv": NUMBERS.replace("x,y", "x,x", 1)}),
    "label-not-a-column": Case(("pretrain", "data=csv", "data.path=data.csv", "data.label=kind"), ("data.label='kind'",),
                               files={"data.csv": NUMBERS}),
    "too-many-shots": Case(("pretrain", "data=csv", "data.path=data.csv", "data.shots=100"), ("data.shots=100",),
                           files={"data.csv": NUMBERS}),
    # Settings
    "unknown-stage": Case(("pretrian",), ("unknown stage 'pretrian'", *STAGES)),
    "unknown-key": Case(("pretrain", "trainer.stepz=3"), ("unknown setting 'trainer.stepz'", "steps", "on_nonfinite")),
    "misspelt-key": Case(("finetune", "data.shot=15"), ("unknown setting 'data.shot'", "did you mean data.shots?")),
    "misspelt-group": Case(("pretrain", "tranfser=l2sp"), ("unknown setting 'tranfser'", "did you mean transfer?")),
    "unknown-option": Case(("finetune", "transfer=nope"), ("available options in 'transfer'",)),
    "misspelt-option": Case(("finetune", "transfer=l2pp"), ("'transfer/l2pp'", "did you mean transfer=l2sp?")),
    "unknown-launcher": Case(("pretrain", "hydra/launcher=jobli", "-m"),
                             ("hydra/launcher=jobli", "available options in 'hydra/launcher'", "did you mean hydra/launcher=joblib?")),
    "unparsable": Case(("finetune", "trainer.steps=[1"), ("cannot read the setting 'trainer.steps=[1'", "no viable alternative")),
    # `data.path=my data/x.csv` unquoted: the shell splits it at the space
    "unquoted-space": Case(("pretrain", "data=csv", "data.path=my", "data/x.csv"),
                           ("'data/x.csv' is not a setting", "quote", "'data.path=my data/x.csv'")),
    "a-word-alone": Case(("pretrain", "x.csv"), ("'x.csv' is not a setting", "key=value")),
    "key-of-another-option": Case(("finetune", "transfer.lambda_ewc=1.0"),
                                  ("unknown setting 'transfer.lambda_ewc' for transfer=l2sp", "a setting of transfer=ewc",
                                   "add transfer=ewc", "lr_g_mult")),
    "path-without-data-kind": Case(("finetune", "data.path=target.csv"),
                                   ("unknown setting 'data.path' for data=digits_target",
                                    "a setting of data=csv, data=image_csv, data=images", "add data=csv")),
    "text-for-int": Case(("finetune", "trainer.steps=many"), ("trainer.steps", "must be auto or an integer")),
    "text-for-bool": Case(("finetune", "trainer.ema=maybe"), ("trainer.ema", "must be true or false")),
    "bool-for-a-decay": Case(("finetune", "trainer.ema_decay=false"), ("trainer.ema_decay", "auto or a number")),
    "word-for-auto-or-bool": Case(("pretrain", "trainer.ema_warmup=off"), ("trainer.ema_warmup", "auto, true or false")),
    "text-for-float": Case(("finetune", "optimizer.lr_g=fast"), ("optimizer.lr_g", "must be a number")),
    "in-a-sweep": Case(("finetune", "data.shots=10,lots"), ("data.shots='lots' must be an integer",)),
    "not-a-choice": Case(("finetune", "trainer.on_nonfinite=ignore"), ("trainer.on_nonfinite", "stop or skip")),
    "null": Case(("finetune", "trainer.batch_size=null"), ("trainer.batch_size", "must be an integer >= 1")),
    "unknown-metric": Case(("finetune", "trainer.final_metrics=[c2st,bogus]"), ("unknown metric(s) bogus",)),
    "out-of-range": Case(("pretrain", "trainer.steps=0", "data.holdout=1.5", "augment=tabular", "augment.p=2"),
                         ("trainer.steps=0", "data.holdout=1.5", "augment.p=2")),
    "sample-zero-rows": Case(("sample", "ckpt={ckpt}", "n=0"), ("n=0",)),
    "unresolved-interpolation": Case(("pretrain", "data=csv", "data.path=${{oc.env:GANXFER_UNSET_VARIABLE}}"),  # {{: format
                                     ("data.path could not be resolved", "GANXFER_UNSET_VARIABLE")),
    # A run that meets its own checkpoint or data
    "resume-other-network": Case(("pretrain", "data=csv", "data.path={data}", *tiny(4), "model.g_hidden=32",
                                  "resume={ckpt}"), ("model.g_hidden: 16 -> 32", "other settings", "(model.g_hidden=16)")),
    "resume-fewer-steps": Case(("pretrain", "data=csv", "data.path={data}", *tiny(1), "resume={ckpt}"),
                               ("trainer.steps=1", "has done 2 steps already")),
    "finetune-own-file-without-data": Case(("finetune", "ckpt={ckpt}", *tiny()),
                                           ("source.csv", "no default target", "data=csv data.path=")),
    "finetune-other-columns": Case(("finetune", "ckpt={ckpt}", "data=csv", "data.path=target.csv", *tiny()),
                                   ("columns differ", "income", "age"),
                                   files={"target.csv": table(("x", "age")).to_csv(index=False)}),
    "unconditional-per-class": Case(("sample", "ckpt={ckpt}", "per_class=3"), ("conditional",)),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input(name, tmp_path, source, ganxfer_outcome, monkeypatch):
    case = CASES[name]
    for folder in case.folders:
        (tmp_path / folder).mkdir()
    for file_name, content in case.files.items():
        content = content(source) if callable(content) else content
        path = tmp_path / file_name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    args = [arg.format(data=source.data, ckpt=source.checkpoint) for arg in case.args]
    absent_modules(monkeypatch, case.absent)  # only this process: console cases hide nothing
    run = run_console_script if case.console else ganxfer_outcome
    result = checked(run, tmp_path, *args)
    assert_user_error(result, *case.phrases)
    left = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")
                  if path.relative_to(tmp_path).parts[0] not in {*case.files, *case.folders})
    assert not left, f"a failed run left {left}"


def test_an_unquoted_value_with_a_space_is_a_user_error_before_hydra_runs(tmp_path):
    result = run_console_script(tmp_path, "pretrain", "data=csv", "data.path=my", "data/x.csv")
    assert_user_error(result, "ganxfer pretrain: error:", "'data.path=my data/x.csv'")
    assert result.returncode == 2


def test_a_failed_run_in_the_default_folder_leaves_nothing_but_earlier_runs(tmp_path, ganxfer_outcome):
    """outputs/<stage>/<date>/<time>/ is made by Hydra before any check on the data can run."""
    earlier = tmp_path / "outputs" / "pretrain" / "earlier-run" / "metrics.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("{}")
    result = ganxfer_outcome(tmp_path, "pretrain", "data=csv", "data.path=empty.csv")
    assert_user_error(result, "not found")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "outputs", "outputs/pretrain", "outputs/pretrain/earlier-run", "outputs/pretrain/earlier-run/metrics.json"]


def test_diverging_training_names_the_step_and_writes_nothing(tmp_path, ganxfer_outcome):
    result = checked(ganxfer_outcome, tmp_path, "pretrain", *tiny(steps=4), "optimizer.lr_g=1e30",
                     "optimizer.lr_d=1e30", "hydra.run.dir=run")
    assert_user_error(result, "diverged", "at step 1", "optimizer.lr_g")
    assert not (tmp_path / "run").exists()  # no checkpoint from blown-up weights, no step logged


class TouchOnLoad:
    """Unpickling this calls marker.touch(): a stand-in for any code a hostile file could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_checkpoint_that_runs_code_on_load_is_refused(tmp_path, ganxfer_outcome):
    marker, path = tmp_path / "payload-ran", tmp_path / "hostile.ckpt"
    torch.save(TouchOnLoad(marker), path)
    assert_user_error(ganxfer_outcome(tmp_path, "evaluate", f"ckpt={path}"), "refused", "hostile.ckpt")
    assert not marker.exists()
    # Control: the payload is live, so the marker's absence above means ganxfer refused it.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_debug_shows_the_traceback(tmp_path):
    result = run_console_script(tmp_path, "evaluate", "ckpt=nothing.ckpt", "debug=true")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "checkpoint not found" in result.stderr


def decimals(rows: int, scale: float = 1.0) -> pd.DataFrame:
    values = np.random.default_rng(1).normal(size=(rows, 2)) * scale
    return pd.DataFrame(values, columns=["x", "y"])


# Tables that are odd but can be learnt from: the run trains, and what cannot be measured on so
# few held-out rows is skipped, saying why.
TRAINABLE = {
    "two-rows": (decimals(2).to_csv(index=False), "not measured"),
    "three-rows": (decimals(3).to_csv(index=False), "not measured"),
    "one-column": (decimals(ROWS)[["x"]].to_csv(index=False), None),
    "a-constant-column": (decimals(ROWS).assign(y=7).to_csv(index=False), None),
    "huge-numbers": (decimals(ROWS, 1e300).to_csv(index=False), None),
    "tiny-numbers": (decimals(ROWS, 1e-300).to_csv(index=False), None),
    "semicolons": (decimals(ROWS).to_csv(index=False, sep=";"), None),
    "tabs": (decimals(ROWS).to_csv(index=False, sep="\t"), None),
    "decimal-commas": (decimals(ROWS).to_csv(index=False, sep=";", decimal=","), None),
    "utf16": (decimals(ROWS).to_csv(index=False).encode("utf-16"), None),
    "utf8-byte-order-mark": (decimals(ROWS).to_csv(index=False).encode("utf-8-sig"), None),
}


@pytest.mark.parametrize("name", TRAINABLE)
def test_an_odd_table_still_trains(name, tmp_path, ganxfer_outcome):
    content, note = TRAINABLE[name]
    path = tmp_path / "data.csv"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    result = ganxfer_outcome(tmp_path, "pretrain", *csv_args(path), *tiny(), "hydra.run.dir=run")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert note is None or note in result.stdout + result.stderr
    assert "continuous" in result.stdout  # every column read as numbers, whatever the separator or encoding
    result = ganxfer_outcome(tmp_path, "evaluate", "ckpt=run/checkpoints/last.ckpt", "hydra.run.dir=eval")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_a_fault_of_ganxfer_keeps_its_traceback_and_asks_to_be_reported_with_the_command(
        tmp_path, ganxfer_outcome, monkeypatch):
    def broken_stage(cfg):
        raise RuntimeError("a fault inside the stage")

    monkeypatch.setattr(stages, "runner", lambda name: broken_stage)
    result = ganxfer_outcome(tmp_path, "pretrain", "trainer.steps=3", "hydra.run.dir=run")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "RuntimeError: a fault inside the stage" in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ganxfer pretrain: this is a fault in ganxfer itself") and "report it" in last_line
    assert last_line.endswith(": ganxfer pretrain trainer.steps=3"), last_line
    assert not (tmp_path / "run").exists()  # taken away as any failed run's folder


def test_an_unknown_option_lists_only_the_options_a_user_can_pick(tmp_path, ganxfer_outcome):
    """conf/transfer/_shared.yaml is included by the strategies' files; it is no strategy."""
    result = ganxfer_outcome(tmp_path, "finetune", "transfer=l2pp")
    assert_user_error(result, "transfer=l2pp", "available options in 'transfer': cdc, dcl,", "did you mean transfer=l2sp?")
    assert "_shared" not in result.stderr
