"""The documentation is kept true: every setting under conf/ is documented, and every `ganxfer`
command in README.md and docs/ composes (known keys, values of the right type, options that
exist). Composing only: nothing runs, so the commands may name files that do not exist."""

import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ganxfer.cli import STAGES, config_groups
from ganxfer.validate import check_overrides

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CONFIGS = [ROOT / "conf" / "config.yaml", *sorted((ROOT / "conf").glob("*/*.yaml"))]


def documented_text() -> str:
    return "\n".join(page.read_text() for page in PAGES)


def settings_of(path: Path) -> list[str]:
    """The dotted keys a YAML file sets, as a command line names them: under its group's name
    unless the file is `@package _global_` (or conf/config.yaml itself)."""
    text = path.read_text()
    prefix = "" if "@package _global_" in text or path.parent.name == "conf" else path.parent.name + "."
    return [prefix + key for key in leaves(OmegaConf.load(path)) if key != "defaults"]


def leaves(node: DictConfig, prefix: str = "") -> list[str]:
    keys = []
    for key in node.keys():
        child = node._get_node(key)
        if isinstance(child, DictConfig) and len(child) > 0:
            keys += leaves(child, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_the_docs_exist_and_readme_links_them():
    readme = (ROOT / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT / "conf")))
def test_every_setting_is_documented(path):
    text = documented_text()
    undocumented = [key for key in settings_of(path) if f"`{key}`" not in text]
    assert not undocumented, f"{path.name}: not in README.md or docs/*.md: {', '.join(undocumented)}"


def test_readme_and_ci_run_the_same_test_command():
    """README.md's second setup line installs and passes the tests: what .ci/run does."""
    readme_line = next(line for line in (ROOT / "README.md").read_text().splitlines() if line.endswith("&& pytest"))
    assert readme_line in (ROOT / ".ci" / "run").read_text()


COMMAND = re.compile(r"(?:^|\s)ganxfer\s+(" + "|".join(STAGES) + r")\b(.*)$")


def documented_commands() -> list[tuple[str, str]]:
    """(page, command) for every `ganxfer <stage> ...` in a bash block of the docs."""
    commands = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
                found = COMMAND.search(line)
                if found and "<" not in found.group(0):
                    rest = found.group(2).strip().strip("'\"")  # the end of a quoted `bash -c '...'`
                    commands.append((page.name, f"{found.group(1)} {rest}".strip()))
    return commands


def test_the_docs_show_commands():
    assert len(documented_commands()) > 20


@pytest.mark.parametrize("page, command", documented_commands())
def test_every_documented_command_composes(page, command):
    stage, *args = shlex.split(command)
    if stage == "report" and args and "=" not in args[0]:
        args = [f"stage.dir={args[0]}", *args[1:]]  # `ganxfer report DIR`
    settings = [arg for arg in args if "=" in arg and not arg.startswith("-") and not arg.startswith("hydra")]
    check_overrides(stage, settings, set(config_groups()) | {"stage"})
    # A sweep composes as its first job; a path or a count may be a placeholder such as PATH.
    first_job = [f"{override.get_key_element()}={next(override.sweep_string_iterator())}"
                 if override.is_sweep_override() else arg
                 for arg, override in zip(settings, OverridesParser.create().parse_overrides(settings))]
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        config = compose("config", overrides=[f"stage={stage}", *first_job])
    assert config.stage.name == stage
