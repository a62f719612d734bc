"""The benchmark suite runs end to end at tiny sizes and writes its results file; no timing is
checked here (see benchmarks/results.md for the figures)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ganxfer import checkpoint

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import c2st_exact_values  # noqa: E402
import fewshot_pairs  # noqa: E402
import fewshot_study  # noqa: E402
import run as suite  # noqa: E402  (benchmarks/ is scripts, not a package)

WITHOUT_PEERS = "overhead,transfer,scale,metrics,fewshot"


def section(text: str, part: str) -> str:
    start = text.index(f"## {suite.TITLES[part]}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def table_rows(text: str) -> list[str]:
    """The first cells of a markdown table's body rows."""
    return [line.split("|")[1].strip() for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("|---")][1:]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return suite.main(["--quick", "--parts", WITHOUT_PEERS, "--out", str(tmp_path_factory.mktemp("bench") / "r.md")])


def test_results_name_the_machine_and_each_part_with_its_load(results):
    text = results.read_text()
    assert "torch 2." in text and "cores" in text and "UTC" in text
    for part in WITHOUT_PEERS.split(","):
        assert "load average" in section(text, part)


def test_overhead_and_transfer_tables_have_a_row_per_comparison_with_a_ratio(results):
    text = results.read_text()
    overhead = table_rows(section(text, "overhead"))
    assert overhead == [label for label, *_ in __import__("overhead").CONFIGURATIONS]
    for line in section(text, "overhead").splitlines()[-len(overhead):]:
        ratio = float(line.split("|")[4].split()[0])
        assert 0 < ratio < 100
    assert table_rows(section(text, "transfer")) == ["scratch", "full"]


def test_fewshot_table_has_a_row_per_size_and_the_rows_the_own_run_needs(results):
    text = section(results.read_text(), "fewshot")
    assert table_rows(text) == ["10", "50"]
    assert "The own run needs " in text and "rows to reach the FD of the default on 10 (" in text


def study_results(fd: dict[str, dict[int, list[float]]]) -> pd.DataFrame:
    """Rows as the few-shot study writes them, one per run and seed, with these FDs (and a C2ST
    accuracy of a tenth of each)."""
    return pd.DataFrame([{"pair": "digits", "rows": size, "seed": seed, "run": run, "steps": 2000, "fd": value,
                          "c2st": value / 10}
                         for run, sizes in fd.items() for size, values in sizes.items()
                         for seed, value in enumerate(values)])


def test_fewshot_table_sets_the_default_against_each_baseline_as_a_share_of_it():
    results = study_results({"default": {10: [4, 6], 50: [2, 2]}, "own": {10: [10, 10], 50: [1, 3]},
                             "scratch": {10: [4, 4], 50: [4, 4]}})
    text = fewshot_study.markdown(results, "python benchmarks/fewshot_study.py")
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| 10 ") or line.startswith("| 50 ")}
    # FD and C2ST: default, own run, scratch, then the default against the own run and scratch
    assert rows["10"] == ["5.000 ± 1.414", "10.000 ± 0.000", "4.000 ± 0.000", "−50%", "+25%",
                          "0.50 ± 0.14", "1.00 ± 0.00", "0.40 ± 0.00", "−50%", "+25%"]
    assert rows["50"][:5] == ["2.000 ± 0.000", "2.000 ± 1.414", "4.000 ± 0.000", "+0%", "−50%"]
    assert "The own run needs more than 10, at most 50 rows to reach the FD of the default on 10 (5.000)" in text


def test_fewshot_table_over_several_sources_averages_them_and_lists_the_default_from_each():
    from_first = study_results({"default": {10: [4, 6]}, "own": {10: [10, 10]}, "scratch": {10: [4, 4]}})
    from_second = study_results({"default": {10: [8, 8]}, "own": {10: [10, 10]}, "scratch": {10: [4, 4]}})
    text = fewshot_study.markdown(pd.concat([from_first.assign(source=0), from_second.assign(source=1)]), "cmd")
    assert "Mean ± sd over the sources pretrained with seeds 0, 1 and, from each, seeds 0, 1;" in text
    [row] = [line for line in text.splitlines() if line.startswith("| 10 ")]
    assert row.split("|")[2].strip() == "6.500 ± 1.915" and row.split("|")[5].strip() == "−35%"
    assert "The default's mean FD from each source (0 / 1): 10 rows 5.000 / 8.000." in text
    # The runs from each source are kept apart under a tag of their own; seed 0's is the study's.
    assert [fewshot_study.tagged("default", seed) for seed in (0, 1, 2)] == ["default", "src1", "src2"]
    assert [fewshot_study.tagged("deep", seed) for seed in (0, 1)] == ["deep", "deep-src1"]


@pytest.mark.parametrize("own, needs", [
    ({10: 9.0, 50: 5.0, 200: 1.0}, "more than 10, at most 50"),  # as well as the default counts
    ({10: 9.0, 50: 5.1, 200: 1.0}, "more than 50, at most 200"),
    ({10: 4.0, 50: 5.0, 200: 1.0}, "at most 10"),  # the own run does better on as few rows
    ({10: 9.0, 50: 8.0, 200: 6.0}, "more than 200"),
    ({200: 1.0, 10: 9.0, 50: 2.0}, "more than 10, at most 50"),  # in whatever order the sizes come
])
def test_fewshot_rows_the_own_run_needs_to_match_the_default(own, needs):
    assert fewshot_study.rows_to_match(pd.Series(own), 5.0) == needs


@pytest.mark.parametrize("args", [["--finetune", "transfer.lambda_g=10"],
                                  ["--source", "model.g_layers=2", "--tag", "src1"],  # --source-seeds' name
                                  ["--finetune", "transfer.lambda_g=10", "--tag", "try-src2"]])
def test_fewshot_settings_to_try_are_kept_apart_from_the_defaults_runs(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as refused:
        fewshot_study.main(["--out", str(tmp_path), *args])
    assert refused.value.code == 2 and "--tag" in capsys.readouterr().err


def test_fewshot_source_settings_train_a_source_of_their_own_for_the_finetune_and_scratch(tmp_path):
    """--source settings pretrain the sources anew, kept apart under the tag: the finetune and
    scratch start from them, the own run does not."""
    fewshot_study.main(["--quick", "--out", str(tmp_path), "--source", "model.g_layers=2", "--tag", "deep"])
    case = tmp_path / "runs" / "digits" / "10" / "seed0"
    layers = {run: checkpoint.load(case / run / "checkpoints" / "last.ckpt")["plan"]["model"]["g_layers"]
              for run in ("deep", "scratch-20-deep", "own-20")}
    assert layers == {"deep": 2, "scratch-20-deep": 2, "own-20": 1}
    assert (tmp_path / "runs" / "sources" / "digits-deep" / "checkpoints" / "last.ckpt").exists()
    scored = pd.read_json(case / "evaluate-deep" / "metrics.json")["checkpoint"]
    assert [Path(path).parents[1].name for path in scored] == ["deep", "own-20", "scratch-20-deep"]


def test_source_signals_tell_a_target_drawn_like_its_source_from_a_shifted_one():
    import source_signals
    from ganxfer.metrics.space import Space

    rng = np.random.default_rng(0)
    source = pd.DataFrame(rng.normal(size=(4000, 3)), columns=list("abc"))
    alike = pd.DataFrame(rng.normal(size=(200, 3)), columns=list("abc"))
    shifted = alike + 3
    fd = {name: source_signals.fd_ratio(source, rows, Space.fit(rows)) for name, rows in
          (("alike", alike), ("shifted", shifted))}
    nn = {name: source_signals.nn_ratio(source, rows, Space.fit(source)) for name, rows in
          (("alike", alike), ("shifted", shifted))}
    assert fd["alike"] < 2 < 100 < fd["shifted"]  # within the rows' own noise, and far beyond it
    assert 0.5 < nn["alike"] < 1.5 < 3 < nn["shifted"]


def test_source_signals_pick_between_two_finetunes_by_the_fifth_of_the_rows_held_back(tmp_path):
    """On the quick study's runs: the signals at each size, and at 50 rows the default and a
    weaker pull fine-tuned again on 40 of the 50 rows, scored on the other 10."""
    import source_signals

    fewshot_study.main(["--quick", "--out", str(tmp_path)])
    fewshot_study.main(["--quick", "--out", str(tmp_path), "--finetune", "transfer.lambda_g=1",
                        "transfer.lambda_d=1", "--tag", "weak"])
    runs, out = tmp_path / "runs", tmp_path / "signals"
    text = source_signals.main(["--runs", str(runs), "--out", str(out), "--pairs", "digits", "--shots", "10", "50",
                                "--seeds", "0", "--pick", "weak"])
    table = pd.read_csv(out / "source_signals.csv")
    assert list(table["rows"]) == [10, 50] and (table[["fd_ratio", "nn_ratio"]] > 0).all().all()
    case = runs / "digits" / "50" / "seed0"
    whole, fifths = (set(checkpoint.load(case / run / "checkpoints" / "last.ckpt")["split"]["train_rows"].tolist())
                     for run in ("default", "fifths-weak"))
    assert len(fifths) == 40 and fifths < whole
    weak = checkpoint.load(case / "fifths-weak" / "checkpoints" / "last.ckpt")["config"]["transfer"]
    assert weak["lambda_g"] == weak["lambda_d"] == 1
    assert "| digits | 50 | 0 | 10 |" in text  # one pick, at 50 rows, by the 10 rows held back


def sides(table: pd.DataFrame, pair_name: str, label: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tuning pair's source and target rows of its table, which together are the whole table
    and leave the target 200 training rows and a fifth held out."""
    pair = fewshot_pairs.TUNING_PAIRS[pair_name]
    source = table[table[label].isin(classes_of(pair.source_data))]
    target = table[table[label].isin(classes_of(pair.target_data))]
    assert len(target) >= 200 / 0.8 and len(source) + len(target) == len(table)
    return source, target


def classes_of(settings: tuple[str, ...]) -> set[str]:
    """The values of a pair's `data.classes=[A,B]` setting."""
    [chosen] = [setting for setting in settings if setting.startswith("data.classes=")]
    return set(chosen.removeprefix("data.classes=[").removesuffix("]").split(","))


def test_the_blind_pair_splits_gapminder_as_plotly_ships_it_into_a_source_and_a_large_enough_target(tmp_path):
    """Read in the peers' venv (plotly is not ganxfer's); names and codes of countries left out."""
    path = tmp_path / fewshot_pairs.GAPMINDER
    fewshot_pairs.gapminder_table(path)
    table = pd.read_csv(path)
    assert list(table.columns) == ["continent", "year", "lifeExp", "pop", "gdpPercap", "centroid_lon", "centroid_lat"]
    pair = fewshot_pairs.BLIND_PAIRS["gapminder"]
    source, target = classes_of(pair.source_data), classes_of(pair.target_data)
    assert source.isdisjoint(target) and source | target == set(table["continent"])
    assert table["continent"].isin(target).sum() >= 200 / 0.8  # 200 training rows and a fifth held out


def test_the_tails_pairs_target_fills_a_small_part_of_its_sources_heavy_tailed_range():
    source, target = sides(fewshot_pairs.tails_table(), "tails", "region")
    for column in ("town_size", "shops"):
        span = target[column].max() - target[column].min()
        assert span < 0.01 * (source[column].max() - source[column].min())


def test_the_plants_pairs_target_is_shifted_past_its_source_and_turns_one_relation_round():
    table = fewshot_pairs.plants_table()
    source, target = sides(table, "plants", "plant")
    for column in ("speed", "temperature", "power"):  # shifted by more than one of the source's sd
        assert target[column].mean() - source[column].mean() > source[column].std()
    assert (target["temperature"] > source["temperature"].max()).mean() > 0.05  # some past the source's range
    shaking = [part["speed"].corr(part["vibration"]) for part in (source, target)]
    assert shaking[0] < -0.5 and shaking[1] > 0.5  # the new plant shakes more as it speeds up
    assert set(table["shift"]) == {"day", "evening", "night"}


def test_the_strokes_pair_splits_8x8_images_of_strokes_into_a_source_and_a_large_enough_target():
    table = fewshot_pairs.strokes_table()
    pair = fewshot_pairs.TUNING_PAIRS["strokes"]
    assert list(table.columns) == [f"pixel{i}" for i in range(64)] + ["kind"]  # data.shape=[8,8] and the label
    source, target = classes_of(pair.source_data), classes_of(pair.target_data)
    assert source.isdisjoint(target) and source | target == set(table["kind"])
    assert len(table) == 5000 and table["kind"].isin(target).sum() >= 200 / 0.8
    pixels = table.drop(columns="kind")
    assert "data.pixel_range=[0,16]" in pair.source_data and pixels.min().min() >= 0 and pixels.max().max() <= 16
    strokes = (pixels >= 8).sum(axis=1)  # a stroke's pixels: the background's noise stays far below
    assert strokes.min() >= 3 and (pixels < 4).sum(axis=1).min() > 32  # every image a stroke on a dark background


def test_scripts_owned_elsewhere_are_reported_verbatim(results):
    text = results.read_text()
    assert "```\n" in section(text, "scale") and "total" in section(text, "metrics")
    assert "━" not in section(text, "scale")  # the progress bars of the runs it makes are left out


def test_running_one_part_keeps_the_other_sections(results):
    before = results.read_text()
    suite.main(["--quick", "--parts", "metrics", "--out", str(results)])
    after = results.read_text()
    for part in ("overhead", "transfer", "scale"):
        assert section(after, part) == section(before, part)
    assert after.index(suite.TITLES["overhead"]) < after.index(suite.TITLES["metrics"])


@pytest.mark.slow  # three peer processes, whole
def test_against_peers_scores_every_peer_and_ganxfer_in_their_own_processes(tmp_path):
    """The peers run for real, in their own venv (made here if .ci/run has not made it)."""
    text = suite.main(["--quick", "--parts", "peers", "--out", str(tmp_path / "r.md")]).read_text()
    row = [cell.strip() for cell in section(text, "peers").splitlines()[-1].split("|")[1:-1]]
    assert row[0].startswith("wine_mixed")
    for cell in row[1:4]:  # CTGAN, TVAE, GaussianCopula: "score (seconds)"
        score, seconds = cell.split()
        assert 0 < float(score) <= 1 and float(seconds.strip("()")) > 0
    assert 0 < float(row[-1].split()[0]) <= 1  # ganxfer's score at its (quick) default steps
    assert "load average" in section(text, "peers")


def test_against_peers_runs_a_candidate_beside_the_default_at_the_default_length_unless_it_names_one():
    from against_peers import whole_settings

    assert whole_settings("10000", 10_000, []) == {"default": ["trainer.steps=10000"]}
    assert whole_settings("auto", 10_000, ["trainer.batch_size=256"]) == {
        "default": ["trainer.steps=auto"], "fixed": ["trainer.steps=10000"],
        "candidate": ["trainer.steps=auto", "trainer.batch_size=256"]}
    assert whole_settings("10000", 10_000, ["trainer.steps=4000"])["candidate"] == ["trainer.steps=4000"]


def test_against_peers_table_shows_the_candidate_and_a_search_left_out():
    from against_peers import Result, Whole, markdown

    default, candidate = Whole("trainer.steps=10000", 10_000, 30.0, 0.9), Whole("trainer.steps=4000", 4000, 15.0, 0.8)
    result = Result("wine_mixed", 142, 8, {"ctgan": (0.7, 40.0), "tvae": (0.75, 20.0), "gaussian_copula": (0.8, 10.0)},
                    20.0, None, None, None, default, default, candidate, searched=False)
    header, rule, row = markdown([result], epochs=300, repeats=2).splitlines()
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert len(cells) == len(header.split("|")) - 2 == rule.count("|") - 1 == 12
    assert cells[6] == "not searched" and cells[9:11] == ["0.800 (15.0), 4000 (trainer.steps=4000)", "0.75"]
    assert cells[-1].startswith("0.900 (30.0)")  # the fixed length stays the last column


def test_gpu_speed_table_has_a_row_per_model_and_a_ratio_per_switch():
    import gpu_speed

    table = gpu_speed.main(["--device", "cpu", "--steps", "2", "--warmup", "1", "--repeats", "1",
                            "--switches", "32,bf16"])
    assert table_rows(table) == ["MLP, batch 512", "DCGAN (8x8 images), batch 256"]
    for line in table.splitlines()[4:]:
        speed_32, speed_bf16, ratio = (float(cell) for cell in line.split("|")[2:5])
        assert speed_32 > 0 and speed_bf16 > 0 and ratio > 0


def test_fixed_costs_table_has_the_floor_the_imports_and_the_runs_with_ratios():
    import fixed_costs

    checkout = Path(__file__).parents[1]
    table = fixed_costs.main(["--repeats", "1", "--rows", "50", "--before", str(checkout)])
    assert len(table_rows(table)) == 4 and table_rows(table)[0].startswith("floor")
    assert table_rows(table)[3] == f"the same pretrain, ganxfer of {checkout}"
    for line in table.splitlines()[-4:]:
        assert float(line.split("|")[4]) > 0


def test_fixed_costs_runs_the_before_checkout_from_its_own_copy(tmp_path):
    import fixed_costs

    folder = fixed_costs.installed_like(Path(__file__).parents[1], tmp_path / "before")
    script = "import ganxfer.conf, ganxfer.stages; print(ganxfer.conf.__file__, ganxfer.stages.__file__)"
    found = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(folder)},
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert [Path(path).parent for path in found] == [folder / "ganxfer" / "conf", folder / "ganxfer" / "stages"]
    assert (folder / "ganxfer" / "conf" / "config.yaml").is_file()


def test_threads_table_has_a_row_per_configuration_with_both_ratios():
    import threads

    table = threads.main(["--steps", "2", "--repeats", "1", "--rows", "300"])
    assert table_rows(table) == [label for label, *_ in threads.CONFIGURATIONS]
    for line in table.splitlines()[4:4 + len(threads.CONFIGURATIONS)]:
        auto_against_best, quiet_against_busy = (float(cell) for cell in line.split("|")[5:7])
        assert auto_against_best > 0 and quiet_against_busy > 0


@pytest.mark.slow
def test_streaming_benchmark_trains_both_ways_and_two_processes_read_no_row_group_twice():
    import streaming

    figures = streaming.main(["--rows", "24000", "--shard-rows", "6000", "--group-rows", "1000", "--steps", "20",
                              "--buffer-rows", "1000", "--threads", "1"])
    assert figures["schema"]["training_rows"] == 19000  # 5 of 24 row groups held out
    assert figures["stream"]["steps_per_s"] > 0 and figures["memory"]["steps_per_s"] > 0
    # Each reads its share of the 19 training row groups (the schema's sample is all of them here)
    # and of the 5 held out, and trains on its own.
    assert figures["torchrun"]["groups"] == [10 + 3, 9 + 2] and figures["torchrun"]["both"] == 0


def test_the_exact_values_check_halves_one_sites_real_people_without_the_site_column():
    """Both halves are real rows of the site, none in both: 'as they are' compares like with like."""
    first, second = c2st_exact_values.halves("Georgetown County")
    assert abs(len(first) - len(second)) <= 1 and len(first) + len(second) == 1090
    assert "site" not in first.columns and list(first.columns) == list(second.columns)
    table = pd.read_csv(Path(c2st_exact_values.__file__).parents[1] / "ganxfer" / "data" / "bundled" / "health.csv")
    site = table[table["site"] == "Georgetown County"].drop(columns="site")
    columns = list(site.columns)
    pd.testing.assert_frame_equal(pd.concat([first, second]).sort_values(columns).reset_index(drop=True),
                                  site.sort_values(columns).reset_index(drop=True))
