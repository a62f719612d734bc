"""The config stops at the stage boundary: below it, functions take typed settings (ganxfer/settings.py),
never Hydra's config. Checked twice: by reading the imports, and by watching every call of a real
pretrain, finetune, evaluate and sample for a DictConfig or ListConfig argument."""

import ast
import sys
from pathlib import Path

from omegaconf import DictConfig, ListConfig

from conftest import TINY

PACKAGE = Path(__file__).parent.parent / "ganxfer"

# Where the config may be read: the command line, the checks before Hydra runs, Hydra's callbacks,
# each stage, the first lines of a training run, and the settings built from it.
BOUNDARY = ("ganxfer.cli", "ganxfer.validate", "ganxfer.runtime", "ganxfer.stages", "ganxfer.training.run",
            "ganxfer.settings")
# Modules that import Hydra or OmegaConf for something other than the run's config.
OTHER_USES = {
    "ganxfer.errors": "Hydra's own exception type, to report Hydra's errors as the user's",
    "ganxfer.checkpoint": "reads the stage off a run folder's .hydra/config.yaml, a file Hydra wrote",
    "ganxfer.sweep": "reads the .hydra records of a finished sweep's jobs, for `ganxfer report`",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def at_boundary(module: str) -> bool:
    return any(module == allowed or module.startswith(allowed + ".") for allowed in BOUNDARY)


def imports_hydra_or_omegaconf(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(name.split(".")[0] in ("hydra", "omegaconf") for name in names):
            return True
    return False


def test_below_the_stage_no_module_imports_hydra_or_omegaconf():
    offending = sorted(module for module, tree in
                       ((module_name(path), ast.parse(path.read_text())) for path in PACKAGE.rglob("*.py"))
                       if imports_hydra_or_omegaconf(tree) and not at_boundary(module) and module not in OTHER_USES)
    assert not offending, f"modules below the stage boundary that import hydra or omegaconf: {', '.join(offending)}"


def calls_given_the_config(run) -> list[str]:
    """`module.function` for every call, while `run()` runs, into a function of ganxfer below the
    stage boundary with a DictConfig or ListConfig among its arguments."""
    found = set()

    def watch(frame, event, arg):
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("ganxfer") or at_boundary(module):
            return
        code = frame.f_code
        count = code.co_argcount + code.co_kwonlyargcount
        count += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)  # *args, **kwargs
        values = [frame.f_locals.get(name) for name in code.co_varnames[:count]]
        values += [each for value in values if isinstance(value, (tuple, dict)) and not isinstance(value, DictConfig)
                   for each in (value.values() if isinstance(value, dict) else value)]
        if any(isinstance(value, (DictConfig, ListConfig)) for value in values):
            found.add(f"{module}.{code.co_qualname}")

    sys.setprofile(watch)
    try:
        run()
    finally:
        sys.setprofile(None)
    return sorted(found)


def test_no_function_below_the_stage_is_given_the_config(ganxfer):
    stages = []

    def every_stage():
        source = ganxfer("pretrain", *TINY)
        stages.append(source)
        target = ganxfer("finetune", *TINY, f"ckpt={source}/checkpoints/last.ckpt")
        ganxfer("evaluate", f"ckpt={target}/checkpoints/last.ckpt", "metrics=[fd]", "trainer.device=cpu")
        ganxfer("sample", f"ckpt={target}/checkpoints/last.ckpt", "n=10", "trainer.device=cpu")
        stages.append(target)

    given = calls_given_the_config(every_stage)
    assert len(stages) == 2  # every stage ran
    assert not given, f"functions below the stage boundary given Hydra's config: {', '.join(given)}"
