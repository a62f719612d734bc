"""Meta-learned pretraining (`meta=reptile`, `meta=task_average`): the source's rows fall into
tasks (its labels, data=multi's domains, or k-means clusters), and each step of the run is an
outer step over them, in place of the loop's plain train_step.

Which task an outer step trains on is drawn from (seed, step) alone, not from the run's random
stream: under torchrun the other ranks restart that stream at every step, yet all ranks must
train on the same task; and a resumed run draws the same tasks again without saving anything.
Batches and z still come from the run's stream, as in any run."""

import copy
import itertools
from dataclasses import dataclass, replace

import numpy as np
import torch

from ganxfer.data.rows import Rows
from ganxfer.errors import UserError
from ganxfer.settings import Data, Meta
from ganxfer.training.loop import GAN, StepContext, device_of, networks_to_call, train_step


def task_column(meta: Meta, data: Data) -> str | None:
    """The column whose values are the tasks (data=multi's data.label is its `domain` column);
    None when there are no meta-learning tasks or they are clusters of the rows."""
    if meta.name == "none" or meta.tasks_from == "clusters":
        return None
    if data.label:
        return data.label
    if meta.tasks_from == "label":
        raise UserError("meta.tasks_from=label needs a label column: set data.label=COLUMN, or "
                        "meta.tasks_from=clusters to draw tasks from k-means clusters of the rows")
    return None  # auto without a label: clusters


@dataclass
class Tasks:
    """The training rows of each task (indices into the run's rows, on its device)."""

    members: list[torch.Tensor]
    seed: int

    @classmethod
    def of_rows(cls, numbers: np.ndarray, device, seed: int) -> "Tasks":
        members = [torch.from_numpy(np.flatnonzero(numbers == task)).to(device) for task in np.unique(numbers)]
        if len(members) < 2:
            raise UserError("meta-learning needs at least two tasks, and every training row here falls in one; "
                            "give data with several labels (data.label, data.classes) or domains, or set "
                            "meta.tasks_from=clusters")
        return cls(members, seed)

    def draw(self, step: int, rows: int | None = None) -> torch.Tensor:
        """The rows an outer step trains on: one task, drawn from (seed, step), and at most `rows`
        of its rows, drawn without replacement."""
        rng = np.random.default_rng([self.seed, step])
        members = self.members[rng.integers(len(self.members))]
        if rows is None or rows >= len(members):
            return members
        return members[torch.from_numpy(rng.choice(len(members), rows, replace=False)).to(members.device)]


def cluster_numbers(rows: np.ndarray, clusters: int, seed: int) -> np.ndarray:
    """Tasks for a source with neither label nor domain: k-means clusters of the encoded rows."""
    from sklearn.cluster import KMeans

    if clusters > len(rows):
        raise UserError(f"meta.clusters={clusters} is more than the {len(rows)} training rows")
    return KMeans(n_clusters=clusters, n_init=3, random_state=seed).fit_predict(rows)


def _state(gan: GAN) -> list[torch.Tensor]:
    """The floating-point tensors of G and D that training changes: weights and BatchNorm's
    running statistics (not its integer batch counter)."""
    tensors = itertools.chain(gan.generator.parameters(), gan.generator.buffers(),
                              gan.discriminator.parameters(), gan.discriminator.buffers())
    return [tensor for tensor in tensors if tensor.is_floating_point()]


class Reptile:
    """Reptile (Nichol, Achiam & Schulman 2018), on G and D alike as in FIGR (Clouatre & Demers
    2019). An outer step t draws a task and meta.task_rows of its rows, trains G and D
    meta.inner_steps steps on batches of those rows (weights theta -> phi), then sets

        theta <- theta + eps_t (phi - theta),  eps_t = epsilon (1 - (t - 1) / T) with anneal, else epsilon,

    T being trainer.steps. Adam's moments run on across outer steps, as in Nichol et al.'s code.
    The EMA follows the outer weights theta only, once per outer step."""

    def __init__(self, meta: Meta, tasks: Tasks, total_steps: int):
        self.inner_steps, self.task_rows = meta.inner_steps, meta.task_rows
        self.epsilon, self.anneal, self.total_steps = meta.epsilon, meta.anneal, total_steps
        self.tasks = tasks

    @property
    def trainings_per_step(self) -> int:
        return self.inner_steps

    def state_dict(self) -> dict:
        return {}  # the task and step size of every outer step follow from (seed, step)

    def load_state_dict(self, state: dict) -> None:
        pass

    def step_size(self, step: int) -> float:
        return self.epsilon * (1 - (step - 1) / self.total_steps) if self.anneal else self.epsilon

    def __call__(self, context: StepContext, data: torch.Tensor, step: int):
        gan = context.gan
        start = [tensor.detach().clone() for tensor in _state(gan)]
        losses = self.adapt(context, data, step)
        with torch.no_grad():
            _move_toward(start, _state(gan), self.step_size(step))
        if gan.ema is not None:
            gan.ema.update(gan.generator)
        return losses

    def adapt(self, context: StepContext, data: torch.Tensor, step: int):
        """The inner steps on this outer step's task (theta -> phi); returns the last losses and
        the updates skipped."""
        rows = self.tasks.draw(step, self.task_rows)
        labels = context.labels
        # The EMA averages outer weights, not a task's.
        inner = replace(context, gan=replace(context.gan, ema=None), labels=None if labels is None else labels[rows])
        task_data = data[rows]
        skipped = 0
        for _ in range(self.inner_steps):
            d_loss, g_loss, skips = train_step(inner, task_data, step)
            skipped += skips
        return d_loss, g_loss, skipped


def _move_toward(theta: list[torch.Tensor], phi: list[torch.Tensor], epsilon: float) -> None:
    """phi <- theta + epsilon (phi - theta), for every tensor, allocating none: the result is
    computed in theta, the copy the outer step took before its inner steps and needs no more, and
    copied into phi. In place, lerp gives what torch.lerp(theta, phi, epsilon) gives, bit for bit."""
    torch._foreach_lerp_(theta, phi, epsilon)
    torch._foreach_copy_(phi, theta)


class TaskAverage:
    """The average of per-task models: one G and D (and their optimisers) per task, all copies of
    the run's starting networks, each trained on its own task's rows alone; after every step the
    run's G and D hold their average, theta = (1/K) sum_k phi_k (over weights and BatchNorm
    statistics), which is what the EMA, evaluation and checkpoints see. A step of the run trains
    each of the K models one step. Because they start alike and are only averaged, never mixed,
    this is exactly K separate runs averaged at the end (a "model soup" over tasks)."""

    def __init__(self, gan: GAN, tasks: Tasks):
        self.tasks = tasks
        self.models = [copy.deepcopy(replace(gan, ema=None)) for _ in tasks.members]
        # Each model's step context (its G and D as its training steps call them, its task's labels)
        # and its task's rows on the device, made at the first step.
        self.contexts: list[StepContext] | None = None
        self.task_rows: list[torch.Tensor] | None = None

    @property
    def trainings_per_step(self) -> int:
        return len(self.models)

    def __call__(self, context: StepContext, data: torch.Tensor, step: int):
        gan, labels = context.gan, context.labels
        if self.contexts is None:  # at the first step: each task model's context and rows, made once
            self.contexts, self.task_rows = [], []
            for model, rows in zip(self.models, self.tasks.members):
                generator, discriminator = networks_to_call(model, context.schedule.compile)
                self.contexts.append(replace(context, gan=model, generator=generator, discriminator=discriminator,
                                             labels=None if labels is None else labels[rows]))
                self.task_rows.append(data[rows])
        skipped = 0
        for task_context, task_data in zip(self.contexts, self.task_rows):
            d_loss, g_loss, skips = train_step(task_context, task_data, step)
            skipped += skips
        with torch.no_grad():
            for average, *tensors in zip(_state(gan), *map(_state, self.models)):
                average.copy_(torch.stack(tensors).mean(0))
        if gan.ema is not None:
            gan.ema.update(gan.generator)
        return d_loss, g_loss, skipped

    def state_dict(self) -> dict:
        return {f"task{index}": model.state_dict() for index, model in enumerate(self.models)}

    def load_state_dict(self, state: dict) -> None:
        for index, model in enumerate(self.models):
            model.load_networks(state[f"task{index}"])
            model.load_optimizers(state[f"task{index}"])


def build(meta: Meta, gan: GAN, rows: Rows, task_numbers: np.ndarray | None, seed: int,
          total_steps: int):
    """The meta-learner of meta=NAME (None for meta=none), over the training rows' tasks."""
    if meta.name == "none":
        return None
    if task_numbers is None:
        # Meta-learning's rows are in memory (data/prepare.py refuses streamed ones): every step draws from them all.
        task_numbers = cluster_numbers(rows.for_step(1).cpu().numpy(), meta.clusters, seed)
    tasks = Tasks.of_rows(task_numbers, device_of(gan.generator), seed)
    if meta.name == "reptile":
        return Reptile(meta, tasks, total_steps)
    if meta.name == "task_average":
        return TaskAverage(gan, tasks)
    raise UserError(f"unknown meta={meta.name!r}; choose none, reptile or task_average")
