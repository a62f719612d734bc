"""A real sweep through the CLI, then `ganxfer report` over it."""

import re
import shutil
import sys

import pandas as pd
import pytest

from conftest import TINY, assert_user_error
from ganxfer import cli, sweep


def test_report_groups_a_sweep_by_its_swept_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["ganxfer"])
    assert cli.main(["pretrain", *TINY, "hydra.run.dir=source"]) == 0
    assert cli.main(["finetune", "-m", *TINY, "ckpt=source/checkpoints/last.ckpt", "trainer.eval_every=2",
                     "transfer=scratch,full", "data.shots=20,40", "seed=0,1", "hydra.sweep.dir=sweep"]) == 0
    assert cli.main(["report", "sweep"]) == 0

    report = pd.read_csv(tmp_path / "sweep" / "report.csv")
    assert sorted(zip(report["transfer"], report["data.shots"])) == [
        ("full", 20), ("full", 40), ("scratch", 20), ("scratch", 40)]
    assert (report["jobs"] == 2).all()  # the two seeds pooled
    for column in ("fd_mean", "fd_std", "mmd2_rbf_mean", "steps_to_quality_mean"):
        assert column in report.columns
    scratch = report[report["transfer"] == "scratch"]
    assert scratch["steps_to_quality_mean"].isna().all()  # scratch is the yardstick, not measured by it
    # A few-shot study: full against scratch at each size, printed with a legend and saved beside report.csv.
    against = pd.read_csv(tmp_path / "sweep" / "against_scratch.csv")
    assert list(against.columns) == ["data.shots", "transfer", "fd", "scratch_fd", "vs_scratch", "scratch_needs"]
    assert sorted(zip(against["transfer"], against["data.shots"])) == [("full", 20), ("full", 40)]
    assert against["vs_scratch"].tolist() == pytest.approx((against["fd"] / against["scratch_fd"] - 1).tolist())
    assert against["fd"].tolist() == [report.set_index(["transfer", "data.shots"]).loc[("full", shots), "fd_mean"]
                                      for shots in against["data.shots"]]
    printed = (tmp_path / "sweep" / "report.log").read_text()
    assert "against scratch" in printed
    assert len(re.findall(r"^│ (?:20|40) +│ full +│.*│ +[+−]\d+% │", printed, re.MULTILINE)) == 2, printed
    for column in ("scratch_fd", "vs_scratch", "scratch_needs"):
        assert re.search(rf"^{column}: ", printed, re.MULTILINE), column
    assert (tmp_path / "sweep" / "report.png").stat().st_size > 0
    # The report writes into the sweep's folder alone: no run folder of its own, no .hydra/ there.
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "sweep" / ".hydra").exists()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """Two sweeps in one folder: finetune's default transfer (l2sp, not on the command line) over
    two seeds, and transfer=scratch with one; with the source they start from."""
    folder = tmp_path_factory.mktemp("study")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setattr(sys, "argv", ["ganxfer"])
        assert cli.main(["pretrain", *TINY, "hydra.run.dir=source"]) == 0
        common = ["finetune", "-m", *TINY, "ckpt=source/checkpoints/last.ckpt", "trainer.eval_every=2"]
        assert cli.main([*common, "seed=0,1", "hydra.sweep.dir=study/default"]) == 0
        assert cli.main([*common, "transfer=scratch", "hydra.sweep.dir=study/scratch"]) == 0
    return folder


def test_the_report_explains_its_columns_and_names_default_settings(study, ganxfer_outcome):
    result = ganxfer_outcome(study, "report", "study")
    assert result.returncode == 0, result.stderr
    report = pd.read_csv(study / "study" / "report.csv").set_index("transfer")
    assert sorted(report.index) == ["l2sp", "scratch"]  # the default strategy by its name
    assert report.loc["l2sp", "jobs"] == 2 and report.loc["scratch", "jobs"] == 1
    assert pd.isna(report.loc["scratch", "steps_to_quality_mean"])

    # The log keeps each row on one line: the printed table, whole.
    printed = (study / "study" / "report.log").read_text()
    rows = {line.split("│")[1].strip(): line for line in printed.splitlines() if line.startswith("│")}
    assert set(rows) == {"l2sp", "scratch"}, printed
    assert "±" in rows["l2sp"] and "±" not in rows["scratch"]  # a spread only over several seeds
    scratch_cells = [cell.strip() for cell in rows["scratch"].split("│")[1:-1]]
    assert scratch_cells[-2:] == ["", "1"]  # steps_to_quality blank for scratch; one job
    assert "mean ± sd over each setting's jobs (its seeds)" in printed
    assert "a setting of one job: its value alone" in printed
    legend = (("fd", "Fréchet distance"), ("mmd2_rbf", "MMD²"), ("steps_to_quality", "final fd of scratch"),
              ("jobs", "finished jobs"))
    for column, explained in legend:
        assert re.search(rf"^{column}: .*{explained}", printed, re.MULTILINE), column
    assert re.search(r"^fd: .*lower is better", printed, re.MULTILINE)
    assert "nan" not in result.stdout


def test_a_folder_that_is_not_a_sweep_is_refused(study, tmp_path, ganxfer_outcome):
    assert_user_error(ganxfer_outcome(study, "report", "source"), "source is not a sweep", "1 single run")
    assert_user_error(ganxfer_outcome(study, "report", "study/scratch"), "is not a sweep", "1 such job")
    for copy in ("a", "b"):  # two jobs of sweeps that ran the same settings with the same seed
        shutil.copytree(study / "study" / "scratch" / "0", tmp_path / "same" / copy / "0")
    assert_user_error(ganxfer_outcome(tmp_path, "report", "same"), "same settings and seed", "nothing to compare")
    assert not (tmp_path / "same" / "report.csv").exists()


def test_the_report_figure_says_what_its_bars_and_error_bars_are(study, ganxfer_outcome, monkeypatch):
    from matplotlib.figure import Figure

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *args, **kwargs: drawn.append(figure))
    assert ganxfer_outcome(study, "report", "study").returncode == 0
    assert drawn[0].axes[0].get_ylabel() == "fd: mean ± sd over each setting's jobs"


def few_shot_study(fd: dict, **others) -> pd.DataFrame:
    """A hand-made study: one job per (transfer, data.shots) with the given fd, as load_jobs reads
    it (settings as the command line wrote them), plus other swept settings of one value each."""
    return pd.DataFrame([{"transfer": strategy, "data.shots": str(shots), "fd": value, **others, "job": "-"}
                         for (strategy, shots), value in fd.items()])


def test_against_scratch_gives_the_signed_ratio_at_each_size():
    jobs = few_shot_study({("scratch", 10): 10.0, ("scratch", 50): 4.0, ("l2sp", 10): 7.7, ("l2sp", 50): 5.0})
    table = sweep.against_scratch(jobs, ["transfer", "data.shots"]).set_index("data.shots")
    assert table["transfer"].tolist() == ["l2sp", "l2sp"]
    assert table.loc[10, "scratch_fd"] == 10.0 and table.loc[50, "scratch_fd"] == 4.0
    assert table.loc[10, "vs_scratch"] == pytest.approx(-0.23)  # better than scratch: below zero
    assert table.loc[50, "vs_scratch"] == pytest.approx(0.25)  # worse: above


def test_against_scratch_says_how_many_rows_scratch_needs():
    jobs = few_shot_study({("scratch", 10): 10.0, ("scratch", 50): 4.0, ("scratch", 200): 3.0,
                           ("l2sp", 10): 4.0, ("l2sp", 50): 2.0, ("l2sp", 200): 3.5})
    needs = sweep.against_scratch(jobs, ["transfer", "data.shots"]).set_index("data.shots")["scratch_needs"]
    assert needs[10] == "10 rows ≈ scratch on 50"  # at or below: scratch's 4.0 matches l2sp's 4.0
    assert needs[50] == "more than 200"  # scratch never gets down to 2.0
    assert needs[200] == "—"  # scratch does better on as many rows or fewer


def test_against_scratch_compares_within_each_setting_of_the_other_swept_keys():
    digits = few_shot_study({("scratch", 10): 10.0, ("scratch", 50): 4.0, ("full", 10): 3.5, ("full", 50): 3.0},
                            data="digits_target")
    health = few_shot_study({("scratch", 10): 2.0, ("scratch", 50): 1.0, ("full", 10): 1.0, ("full", 50): 0.5},
                            data="health_target")
    table = sweep.against_scratch(pd.concat([digits, health]), ["data", "transfer", "data.shots"])
    assert list(table.columns[:3]) == ["data", "data.shots", "transfer"]
    rows = table.set_index(["data", "data.shots"])
    assert rows.loc[("digits_target", 10), "vs_scratch"] == pytest.approx(-0.65)
    assert rows.loc[("health_target", 10), "vs_scratch"] == pytest.approx(-0.5)
    assert rows.loc[("digits_target", 10), "scratch_needs"] == "more than 50"  # not health's scratch at 1.0
    assert rows.loc[("health_target", 10), "scratch_needs"] == "10 rows ≈ scratch on 50"


def test_against_scratch_pools_seeds_and_is_empty_without_scratch_or_several_sizes():
    seeds = pd.concat([few_shot_study({("scratch", 10): 9.0, ("scratch", 50): 4.0, ("full", 10): 5.0,
                                       ("full", 50): 3.0}, seed=str(seed)) for seed in (0, 1)])
    seeds.loc[seeds["seed"] == "1", "fd"] += 2.0  # means: scratch 10.0 on 10 rows, full 6.0
    table = sweep.against_scratch(seeds, ["transfer", "data.shots"]).set_index("data.shots")
    assert table.loc[10, "fd"] == 6.0 and table.loc[10, "vs_scratch"] == pytest.approx(-0.4)

    no_scratch = few_shot_study({("l2sp", 10): 5.0, ("l2sp", 50): 3.0, ("full", 10): 6.0, ("full", 50): 4.0})
    assert sweep.against_scratch(no_scratch, ["transfer", "data.shots"]).empty
    one_size = few_shot_study({("scratch", 10): 9.0, ("full", 10): 5.0})
    assert sweep.against_scratch(one_size, ["transfer"]).empty
    all_rows = few_shot_study({("scratch", 10): 9.0, ("scratch", "null"): 2.0, ("full", 10): 5.0, ("full", "null"): 1.0})
    assert sweep.against_scratch(all_rows, ["transfer", "data.shots"]).empty  # null: all rows, no size
