"""Meta-learned pretraining: Reptile's outer step, the average of per-task models, where tasks
come from, exact resume, sweeps, bad settings, and fine-tuning a meta checkpoint."""

import numpy as np
import pandas as pd
import pytest
import torch

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from conftest import TINY, assert_user_error, load_last, whole_and_resumed
from ganxfer.training import meta
from ganxfer.training.loop import GAN, StepContext
from ganxfer.training.meta import Reptile, TaskAverage, Tasks

REPTILE = ["meta=reptile", "meta.inner_steps=3", "meta.task_rows=8", "meta.epsilon=0.3"]


def snapshot(gan) -> list[torch.Tensor]:
    return [tensor.detach().clone() for tensor in meta._state(gan)]


@pytest.fixture
def outer_steps(monkeypatch):
    """Every Reptile outer step of a run, as (step, theta before, phi after the inner steps, weights after)."""
    recorded = []
    adapt, call = Reptile.adapt, Reptile.__call__

    def spied_adapt(self, context, *args):
        result = adapt(self, context, *args)
        recorded[-1]["phi"] = snapshot(context.gan)
        return result

    def spied_call(self, context, data, step):
        gan = context.gan
        recorded.append({"step": step, "eps": self.step_size(step), "theta": snapshot(gan)})
        result = call(self, context, data, step)
        recorded[-1]["after"] = snapshot(gan)
        recorded[-1]["networks"] = len(list(gan.generator.parameters())) + len(list(gan.discriminator.parameters()))
        return result

    monkeypatch.setattr(Reptile, "adapt", spied_adapt)
    monkeypatch.setattr(Reptile, "__call__", spied_call)
    return recorded


def test_a_reptile_outer_step_moves_every_weight_of_g_and_d_by_epsilon_toward_the_inner_weights(ganxfer, outer_steps):
    run = ganxfer("pretrain", *TINY, *REPTILE, "trainer.steps=2")
    assert [record["step"] for record in outer_steps] == [1, 2]
    assert [record["eps"] for record in outer_steps] == pytest.approx([0.3, 0.15])  # annealed linearly toward 0
    for record in outer_steps:
        assert len(record["theta"]) >= record["networks"]  # every parameter (and BatchNorm's statistics)
        for theta, phi, after in zip(record["theta"], record["phi"], record["after"]):
            assert not torch.equal(theta, phi)  # the inner steps trained every tensor...
            assert torch.equal(after, torch.lerp(theta, phi, record["eps"]))  # ...and the outer step moved it
            torch.testing.assert_close(after, theta + record["eps"] * (phi - theta))
    # What the run saves is the outer weights.
    saved = load_last(run)["networks"]
    weights = [*saved["generator"].values(), *saved["discriminator"].values()]
    floating = [tensor for tensor in weights if tensor.is_floating_point()]
    assert len(floating) == len(outer_steps[-1]["after"])
    assert all(any(torch.equal(tensor, after) for after in outer_steps[-1]["after"]) for tensor in floating)


class NewTensors(TorchDispatchMode):
    """Counts the tensors the ops run under it return in memory of their own: neither an input
    changed in place nor a view of one."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        inputs = {tensor.untyped_storage().data_ptr() for tensor in tree_leaves((args, kwargs))
                  if isinstance(tensor, torch.Tensor)}
        self.count += sum(1 for tensor in tree_leaves(result)
                          if isinstance(tensor, torch.Tensor) and tensor.untyped_storage().data_ptr() not in inputs)
        return result


def test_a_reptile_outer_step_allocates_nothing_beyond_the_copy_of_the_weights_it_starts_from(monkeypatch):
    class Settings:
        inner_steps, task_rows, epsilon, anneal = 1, 4, 0.3, False

    generator = torch.nn.Linear(2, 3)
    generator.z_dim = 2
    discriminator = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 1))
    gan = GAN.create(generator, discriminator, 1e-3, 1e-3, (0.5, 0.999), None)

    def inner_steps(self, context, *args):  # theta -> phi = theta + 1, in place
        with torch.no_grad():
            torch._foreach_add_(meta._state(context.gan), 1.0)
        return 0.0, 0.0, 0

    monkeypatch.setattr(Reptile, "adapt", inner_steps)
    reptile = Reptile(Settings, Tasks([torch.arange(4), torch.arange(4, 8)], seed=0), total_steps=10)
    theta = snapshot(gan)
    context = StepContext(gan, objective=None, rng=None, schedule=None)
    with NewTensors() as new:
        reptile(context, None, 1)
    assert new.count == len(theta)  # theta's copy, one tensor each: the move toward phi allocates none
    for before, after in zip(theta, meta._state(gan)):
        assert torch.equal(after, torch.lerp(before, before + 1, 0.3))


def test_without_anneal_every_outer_step_takes_epsilon():
    class Settings:
        inner_steps, task_rows, epsilon, anneal = 1, 4, 0.4, False
    reptile = Reptile(Settings, Tasks([torch.arange(4), torch.arange(4, 8)], seed=0), total_steps=10)
    assert [reptile.step_size(step) for step in (1, 5, 10)] == [0.4, 0.4, 0.4]


def test_tasks_draw_one_task_and_task_rows_of_its_rows_from_seed_and_step_alone():
    numbers = np.array([0, 1, 2] * 20)
    tasks = Tasks.of_rows(numbers, "cpu", seed=3)
    drawn = tasks.draw(step=7, rows=5)
    assert len(drawn) == 5 and len(set(drawn.tolist())) == 5
    assert len(set(numbers[drawn.numpy()])) == 1
    assert torch.equal(drawn, Tasks.of_rows(numbers, "cpu", seed=3).draw(step=7, rows=5))  # any rank, any resume
    assert {int(numbers[tasks.draw(step, 5)[0]]) for step in range(1, 40)} == {0, 1, 2}  # every task comes up
    assert len(tasks.draw(step=1, rows=100)) == 20  # a task smaller than task_rows: all of it


@pytest.fixture
def task_numbers(monkeypatch):
    """The task of each training row that each run's meta-learner was built on."""
    seen = []
    of_rows = Tasks.of_rows.__func__

    def spied(cls, numbers, device, seed):
        seen.append(numbers)
        return of_rows(cls, numbers, device, seed)

    monkeypatch.setattr(Tasks, "of_rows", classmethod(spied))
    return seen


def test_tasks_are_the_label_the_domain_or_clusters(ganxfer, task_numbers, tmp_path):
    ganxfer("pretrain", *TINY, *REPTILE)  # digits 0-4, data.label=label
    ganxfer("pretrain", *TINY, *REPTILE, "data=multi")  # domains [0,1], [2,3], [4]
    pd.DataFrame({"x": np.r_[np.zeros(30), np.ones(30) * 10] + np.random.default_rng(0).normal(size=60),
                  "y": np.random.default_rng(1).normal(size=60)}).to_csv(tmp_path / "table.csv", index=False)
    ganxfer("pretrain", *TINY, *REPTILE, "data=csv", f"data.path={tmp_path / 'table.csv'}", "meta.clusters=2")
    digits, domains, clusters = task_numbers
    assert len(np.unique(digits)) == 5 and min(np.bincount(digits)) > 100  # about 144 rows of each digit
    assert len(np.unique(domains)) == 3
    assert np.bincount(domains)[2] < np.bincount(domains)[0]  # the one-digit domain is the smallest
    assert len(np.unique(clusters)) == 2 and min(np.bincount(clusters)) >= 15  # the two humps


def test_the_label_column_gives_each_row_its_label_as_task():
    from ganxfer.data.prepare import _task_numbers
    table = pd.DataFrame({"label": ["b", "a", "c", "a"]})
    assert _task_numbers(table, "label").tolist() == [1, 0, 2, 0]


# Without anneal: the helper's first half is a run of half the steps, and an annealed step size
# follows trainer.steps (documented).
@pytest.mark.parametrize("learner", [REPTILE + ["meta.anneal=false"], ["meta=task_average"]],
                         ids=["reptile", "task_average"])
def test_a_resumed_meta_run_ends_exactly_as_an_uninterrupted_one(ganxfer, learner):
    whole, resumed = whole_and_resumed(ganxfer, "pretrain", *TINY, *learner)
    assert whole["meta"].keys() == resumed["meta"].keys()
    for task in whole["meta"]:  # task_average: each task's own networks and optimisers
        for network in ("generator", "discriminator"):
            for key, value in whole["meta"][task][network].items():
                assert torch.equal(value, resumed["meta"][task][network][key]), (task, network, key)


def test_task_average_holds_the_mean_of_the_task_models_and_each_trains_on_its_task_alone(ganxfer, monkeypatch):
    batches = []
    train_step = meta.train_step

    def spied(context, data, step):
        batches.append(data)
        return train_step(context, data, step)

    monkeypatch.setattr(meta, "train_step", spied)
    state = load_last(ganxfer("pretrain", *TINY, "meta=task_average", "data=multi"))
    tasks = state["meta"]
    assert len(tasks) == 3 and len(batches) == 3 * 6  # three domains, each model trained every step
    sizes = [len(rows) for rows in batches[:3]]
    assert sizes == [len(rows) for rows in batches[3:6]] and sum(sizes) == len(state["split"]["train_rows"])
    assert sizes[2] < sizes[0]  # the domain of digit 4 alone
    for name, average in state["networks"]["generator"].items():
        if average.is_floating_point():
            mean = torch.stack([tasks[task]["generator"][name] for task in tasks]).mean(0)
            assert torch.equal(average, mean), name
    # The task models differ: each saw one domain.
    first = next(iter(state["networks"]["discriminator"]))
    assert not torch.equal(tasks["task0"]["discriminator"][first], tasks["task1"]["discriminator"][first])


def test_a_sweep_over_meta_runs_each_learner(tmp_path, monkeypatch):
    from ganxfer import cli
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["ganxfer"])
    assert cli.main(["pretrain", "-m", *TINY, "meta=none,reptile,task_average",
                     f"hydra.sweep.dir={tmp_path / 'sweep'}"]) == 0
    for job in range(3):
        assert (tmp_path / "sweep" / str(job) / "checkpoints" / "last.ckpt").exists()
    names = [load_last(tmp_path / "sweep" / str(job))["config"]["meta"]["name"] for job in range(3)]
    assert names == ["none", "reptile", "task_average"]
    assert load_last(tmp_path / "sweep" / "0")["meta"] == {} and len(load_last(tmp_path / "sweep" / "2")["meta"]) == 5


@pytest.mark.parametrize("settings, phrases", [
    (["meta=reptile", "meta.task_rows=0"], ["meta.task_rows=0", ">= 1"]),
    (["meta=reptile", "meta.inner_steps=0"], ["meta.inner_steps=0", ">= 1"]),
    (["meta=reptile", "meta.epsilon=0"], ["meta.epsilon=0", "(0, 1]"]),
    (["meta=task_average", "meta.tasks_from=rows"], ["meta.tasks_from", "auto, label or clusters"]),
    (["meta=reptile", "data.classes=[3]"], ["at least two tasks", "meta.tasks_from=clusters"]),
    (["meta=task_average", "data=multi", "data.groups=[[0,1,2,3,4]]"], ["at least two tasks"]),
])
def test_bad_meta_settings_are_refused_clearly(tmp_path, ganxfer_outcome, settings, phrases):
    assert_user_error(ganxfer_outcome(tmp_path, "pretrain", *TINY, *settings), *phrases)


def test_tasks_from_label_without_a_label_is_refused(tmp_path, ganxfer_outcome):
    pd.DataFrame({"x": np.arange(40.0), "y": np.arange(40.0) % 7}).to_csv(tmp_path / "t.csv", index=False)
    result = ganxfer_outcome(tmp_path, "pretrain", *TINY, "meta=reptile", "meta.tasks_from=label", "data=csv",
                             f"data.path={tmp_path / 't.csv'}")
    assert_user_error(result, "meta.tasks_from=label", "data.label")


def test_a_meta_checkpoint_fine_tunes_like_any_pretrain_and_meta_is_for_pretraining(ganxfer, tmp_path,
                                                                                      ganxfer_outcome):
    source = ganxfer("pretrain", *TINY, *REPTILE) / "checkpoints" / "last.ckpt"
    finetuned = load_last(ganxfer("finetune", *TINY, f"ckpt={source}", "data.shots=10"))
    assert finetuned["stage"] == "finetune" and finetuned["step"] == 6 and finetuned["meta"] == {}
    refused = ganxfer_outcome(tmp_path, "finetune", *TINY, f"ckpt={source}", "meta=reptile")
    assert_user_error(refused, "meta=reptile", "pretrain")


def test_resuming_with_another_meta_setting_is_refused(ganxfer, tmp_path, ganxfer_outcome):
    half = ganxfer("pretrain", *TINY, *REPTILE, "trainer.steps=3")
    result = ganxfer_outcome(tmp_path, "pretrain", *TINY, *REPTILE, "meta.epsilon=0.9",
                             f"resume={half}/checkpoints/last.ckpt")
    assert_user_error(result, "meta.epsilon")


def test_task_average_models_start_alike_and_keep_their_own_optimisers():
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    generator.z_dim = 2
    gan = GAN.create(generator, discriminator, 1e-3, 1e-3, (0.5, 0.999), None)
    average = TaskAverage(gan, Tasks([torch.arange(2), torch.arange(2, 4)], seed=0))
    assert average.trainings_per_step == 2
    for model in average.models:
        assert model.generator is not gan.generator and model.opt_g is not gan.opt_g
        assert torch.equal(model.generator.weight, gan.generator.weight)
        assert model.opt_g.param_groups[0]["params"][0] is model.generator.weight


@pytest.mark.parametrize("learner", [REPTILE, ["meta=task_average"]], ids=["reptile", "task_average"])
def test_a_meta_run_trains_under_torchrun_with_the_same_weights_on_every_rank(tmp_path, learner):
    """(That every rank draws the same task follows from Tasks.draw's use of seed and step alone:
    see the test of Tasks above.)"""
    from test_distributed import torchrun
    # Ranks whose weights differ stop the run at a checkpoint (distributed.check_in_step).
    finished = torchrun(tmp_path, tmp_path / "run", *learner, "trainer.steps=4", "trainer.ckpt_every=1")
    assert "writing to" in finished.stdout
    assert load_last(tmp_path / "run")["step"] == 4


def test_an_annealed_reptile_run_stopped_half_way_resumes_exactly(ganxfer, monkeypatch, tmp_path):
    """As after a pre-emption: the checkpoint of step 3 of a 6-step run, resumed to step 6."""
    from ganxfer.training.writer import RunWriter
    save = RunWriter.save

    def keep_step_3(self, step, path=None):
        save(self, step, path)
        if step == 3 and path is None:
            (tmp_path / "step3.ckpt").write_bytes(self.last_path.read_bytes())

    monkeypatch.setattr(RunWriter, "save", keep_step_3)
    whole = load_last(ganxfer("pretrain", *TINY, *REPTILE))
    resumed = load_last(ganxfer("pretrain", *TINY, *REPTILE, f"resume={tmp_path / 'step3.ckpt'}"))
    for network in ("generator", "discriminator", "ema"):
        for key, value in whole["networks"][network].items():
            assert torch.equal(value, resumed["networks"][network][key]), (network, key)
