"""The finetune defaults for few rows: L2-SP, a run as long as its rows need (trainer.steps=auto), an
EMA that starts from the source's G (trainer.ema_warmup=auto) and forgets it faster the more rows
there are (trainer.ema_decay=auto), a pull toward the source that weakens from 10 rows on
(transfer.lambda_g and lambda_d = auto), adaptive augmentation of image rows (augment=auto)."""

import pytest
import torch

from conftest import TINY, assert_user_error, load_last, run_in_process
from ganxfer import checkpoint
from ganxfer.augment import for_data
from ganxfer.settings import group_from_saved
from ganxfer.training.plan import FEWEST_STEPS, MOST_STEPS, STEPS_PER_ROW, average_decay, pull_weight, total_steps


@pytest.mark.parametrize("rows, steps", [(1, FEWEST_STEPS), (10, FEWEST_STEPS), (200, FEWEST_STEPS),
                                         (500, 500 * STEPS_PER_ROW), (100_000, MOST_STEPS)])
def test_auto_steps_grow_with_the_training_rows_between_bounds(rows, steps):
    assert total_steps("auto", rows) == steps


def test_a_number_of_steps_is_taken_as_given():
    assert total_steps(7, 10) == 7


@pytest.mark.parametrize("rows, decay", [(1, 0.999), (10, 0.999), (20, 0.998), (50, 0.995), (100, 0.99),
                                         (100_000, 0.99)])
def test_an_average_from_the_source_forgets_it_faster_with_more_rows(rows, decay):
    assert average_decay("auto", True, rows) == pytest.approx(decay)
    assert average_decay("auto", False, rows) == 0.999  # from random weights
    assert average_decay(0.5, True, rows) == 0.5


@pytest.mark.parametrize("rows, weight", [(1, 100), (10, 100), (20, 37.10), (30, 20.77), (50, 10), (200, 10),
                                          (100_000, 10)])
def test_the_pull_toward_the_source_weakens_log_linearly_from_10_to_50_rows(rows, weight):
    assert pull_weight("auto", rows) == pytest.approx(weight, rel=1e-3)
    assert pull_weight(3, rows) == 3.0


@pytest.fixture(scope="module")
def digits_source(tmp_path_factory):
    out = tmp_path_factory.mktemp("source")
    assert run_in_process("pretrain", *TINY, f"hydra.run.dir={out}") == 0
    return out / "checkpoints" / "last.ckpt"


def test_the_default_finetune_runs_auto_steps_for_its_rows(ganxfer, digits_source):
    run = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=20", *TINY[1:], "trainer.ckpt_every=100000")
    state = load_last(run)
    assert state["step"] == total_steps("auto", 20)
    assert state["config"]["transfer"]["name"] == "l2sp"


@pytest.mark.parametrize("shots, settings, said", [
    ("10", [], "L2-SP weight 100 (auto)"), ("100", [], "L2-SP weight 10 (auto)"),
    ("100", ["transfer.lambda_g=3"], "L2-SP weights 3 (G) and 10 (D) (auto)"),
    ("100", ["transfer.lambda_g=3", "transfer.lambda_d=3"], "L2-SP weight 3,")])
def test_the_default_finetune_pulls_as_its_rows_say_and_its_opening_line_says_how_hard(ganxfer, digits_source,
                                                                                         shots, settings, said):
    """The strategy trains with the weights auto resolved to; the checkpoint keeps the setting."""
    run = ganxfer("finetune", f"ckpt={digits_source}", f"data.shots={shots}", *TINY[1:], "trainer.steps=1", *settings)
    assert said in (run / "finetune.log").read_text()
    assert load_last(run)["config"]["transfer"]["lambda_d"] == ("auto" if len(settings) < 2 else 3)


def test_auto_augments_image_rows_adaptively_and_leaves_tables_alone():
    auto = group_from_saved("augment", {"name": "auto"})
    on_images = for_data(auto, [8, 8])
    assert (on_images.name, on_images.adaptive, on_images.p) == ("image", True, 0.5)
    assert for_data(auto, None) is None
    assert for_data(group_from_saved("augment", {"name": "none"}), [8, 8]) is None


def test_the_default_finetune_of_images_augments_them_and_a_pretrain_does_not(ganxfer, digits_source):
    """ADA's p moves from its start at 0.5 only in an adaptive run, and a checkpoint holds it only
    when the rows were augmented."""
    run = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=20", *TINY[1:], "trainer.steps=8")
    state = load_last(run)
    assert state["config"]["augment"]["name"] == "auto"
    assert state["augment"]["p"].item() != 0.5
    assert checkpoint.load(digits_source)["augment"] == {}
    assert ", adaptive image augmentation (augment=auto)," in (run / "finetune.log").read_text()


def test_the_default_finetune_of_a_table_says_it_leaves_the_rows_unaugmented(ganxfer):
    """augment.* keys set on a table do nothing under auto: the run's opening line says why."""
    source = ganxfer("pretrain", "data=health", *TINY)
    run = ganxfer("finetune", f"ckpt={source}/checkpoints/last.ckpt", "data.shots=20", *TINY[1:], "augment.p=0.3")
    assert load_last(run)["augment"] == {}
    assert ", no augmentation (augment=auto leaves tables alone)," in (run / "finetune.log").read_text()


def test_image_augmentation_of_a_table_is_refused_naming_what_makes_rows_images(ganxfer_outcome, tmp_path):
    told = ganxfer_outcome(tmp_path, "pretrain", "data=health", "augment=image", *TINY)
    assert_user_error(told, "augment=image needs image rows, and these are a table", "data.shape=[H,W]")


def test_a_run_trained_without_augmentation_resumes_without_it_unless_the_command_line_says_otherwise(
        ganxfer, ganxfer_outcome, digits_source, tmp_path):
    """Today's finetune default augments images; a run started with augment=none (or before
    augmentation existed) goes on as it was trained, without naming it again."""
    half = ganxfer("finetune", f"ckpt={digits_source}", "augment=none", "data.shots=20", *TINY[1:], "trainer.steps=4")
    resume = f"resume={half}/checkpoints/last.ckpt"
    resumed = load_last(ganxfer("finetune", f"ckpt={digits_source}", "data.shots=20", *TINY[1:], "trainer.steps=8",
                                resume))
    assert resumed["step"] == 8 and resumed["config"]["augment"]["name"] == "none" and resumed["augment"] == {}
    asked = ganxfer_outcome(tmp_path, "finetune", f"ckpt={digits_source}", "data.shots=20", *TINY[1:],
                            "trainer.steps=12", "augment=auto", resume)
    assert_user_error(asked, "augment.name: 'none' -> 'auto'", "augment=none")


def test_a_run_trained_with_another_pull_resumes_with_it_unless_the_command_line_says_otherwise(
        ganxfer, ganxfer_outcome, digits_source, tmp_path):
    """A finetune of an earlier ganxfer pulled at 100 whatever its rows: resumed under today's
    `auto`, it goes on at its own weight without naming it; naming another is refused."""
    half = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=100", *TINY[1:], "trainer.steps=4",
                   "transfer.lambda_g=100.0", "transfer.lambda_d=100.0")
    resume = f"resume={half}/checkpoints/last.ckpt"
    resumed = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=100", *TINY[1:], "trainer.steps=8", resume)
    state = load_last(resumed)
    pulls = state["config"]["transfer"]
    assert state["step"] == 8 and pulls["lambda_g"] == pulls["lambda_d"] == 100
    assert "L2-SP weight 100," in (resumed / "finetune.log").read_text()
    asked = ganxfer_outcome(tmp_path, "finetune", f"ckpt={digits_source}", "data.shots=100", *TINY[1:],
                            "trainer.steps=12", "transfer.lambda_g=auto", resume)
    assert_user_error(asked, "transfer.lambda_g: 100.0 -> 'auto'", "transfer.lambda_g=100.0")


def test_a_finetune_names_the_model_settings_its_source_overrules(ganxfer_outcome, digits_source, tmp_path):
    """A finetune's networks are its source's: a model setting that differs from them is named as
    not used; those that match it (TINY's) are not named."""
    told = ganxfer_outcome(tmp_path, "finetune", f"ckpt={digits_source}", "data.shots=20", *TINY[1:],
                           "trainer.steps=2", "model.g_layers=3")
    assert told.returncode == 0, told.stderr
    assert "model.g_layers=3 not used: a finetune's networks are its source's (model.g_layers=1)" in told.stderr
    assert "model.z_dim" not in told.stderr


def test_auto_steps_resume_to_the_same_total(ganxfer, digits_source):
    half = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=20", "trainer.steps=5", *TINY[1:])
    resumed = ganxfer("finetune", f"ckpt={digits_source}", "data.shots=20", f"resume={half}/checkpoints/last.ckpt",
                      *TINY[1:], "trainer.ckpt_every=100000")
    assert load_last(resumed)["step"] == total_steps("auto", 20)


def _one_step(ganxfer, source, *settings: str, decay: str = "0.5") -> tuple[dict, dict]:
    """The generator after one finetune step and its EMA, with decay 0.5 unless told."""
    run = ganxfer("finetune", f"ckpt={source}", f"trainer.ema_decay={decay}", *TINY[1:], "trainer.steps=1", *settings)
    networks = load_last(run)["networks"]
    return networks["generator"], checkpoint.sampler_weights(networks)


@pytest.mark.parametrize("decay, settings, beta", [("0.5", [], 0.5), ("auto", ["data.shots=50"], 1 - 50 / 10_000)])
def test_a_finetune_average_starts_from_the_source_without_warm_up(ganxfer, digits_source, decay, settings, beta):
    """After one step the average has moved (1 - decay) of the way from the source's G to the
    trained one: compared as moves from the source, which auto's small steps need."""
    source = checkpoint.sampler_weights(checkpoint.load(digits_source)["networks"])
    trained, average = _one_step(ganxfer, digits_source, *settings, decay=decay)
    weights = [key for key, value in trained.items() if value.is_floating_point() and value.dim() == 2]
    for key in weights:
        assert not torch.equal(trained[key], source[key])
        expected_move = (1 - beta) * (trained[key] - source[key])
        assert torch.allclose(average[key] - source[key], expected_move, rtol=0.05, atol=5e-8), key


@pytest.mark.parametrize("transfer, warmup", [("full", "false"), ("scratch", "true")])
def test_auto_warms_the_average_up_only_from_random_weights(ganxfer, digits_source, transfer, warmup):
    _, auto = _one_step(ganxfer, digits_source, f"transfer={transfer}")
    _, chosen = _one_step(ganxfer, digits_source, f"transfer={transfer}", f"trainer.ema_warmup={warmup}")
    _, other = _one_step(ganxfer, digits_source, f"transfer={transfer}",
                         f"trainer.ema_warmup={'true' if warmup == 'false' else 'false'}")
    assert all(torch.equal(auto[key], chosen[key]) for key in auto)
    assert not all(torch.equal(auto[key], other[key]) for key in auto)


@pytest.mark.parametrize("source_data, target", [("digits", "digits_target"), ("health", "health_target")])
def test_a_pretrain_on_the_target_trains_and_holds_out_the_rows_of_the_finetune(ganxfer, source_data, target):
    """The target's own run, which the few-shot study sets beside the finetune
    (benchmarks/fewshot_study.py), is `ganxfer pretrain` with the finetune's data settings: it
    trains on the same rows and is scored against the same held-out rows."""
    source = ganxfer("pretrain", f"data={source_data}", *TINY)
    settings = [f"data={target}", "data.shots=10", *TINY]
    finetune = load_last(ganxfer("finetune", f"ckpt={source}/checkpoints/last.ckpt", *settings))["split"]
    own = load_last(ganxfer("pretrain", *settings))["split"]
    assert len(own["train_rows"]) == 10
    for rows in ("train_rows", "holdout_rows"):
        assert torch.equal(own[rows], finetune[rows]), rows


def test_the_study_writes_where_its_experiment_says():
    """`+experiment=fewshot` names its sweep folder, so that `ganxfer report` and the finetune's
    `ckpt` find the study's runs without a date in the command."""
    from ganxfer.cli import pin_output_folder

    assert pin_output_folder("finetune", ["-m", "+experiment=fewshot"])[1] == "outputs/fewshot/finetune"
    assert pin_output_folder("pretrain", ["-m", "+experiment=fewshot_sources"])[1] == "outputs/fewshot/sources"
    assert pin_output_folder("pretrain", ["-m"])[1].startswith("outputs/multirun/pretrain/")
