"""Value checks on a composed config, run before any work. (Hydra itself refuses keys that do
not exist and values of the wrong type for typed keys.)"""

from omegaconf import OmegaConf

from ganxfer.errors import UserError

# key -> (test, what a valid value is); a key absent from the config or set to null is skipped.
CHECKS = {
    "trainer.steps": (lambda v: v >= 1, "an integer >= 1"),
    "trainer.batch_size": (lambda v: v >= 1, "an integer >= 1"),
    "trainer.log_every": (lambda v: v >= 1, "an integer >= 1"),
    "trainer.ckpt_every": (lambda v: v >= 1, "an integer >= 1"),
    "trainer.eval_every": (lambda v: v >= 0, "an integer >= 0 (0: at the end only)"),
    "trainer.d_steps": (lambda v: v >= 1, "an integer >= 1"),
    "trainer.ema_decay": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "trainer.grad_clip": (lambda v: v > 0, "> 0, or null for none"),
    "trainer.precision": (lambda v: str(v) in ("32", "bf16", "fp16"), "32, bf16 or fp16"),
    "optimizer.lr_g": (lambda v: v > 0, "> 0"),
    "optimizer.lr_d": (lambda v: v > 0, "> 0"),
    "data.shots": (lambda v: v >= 1, "an integer >= 1, or null for all rows"),
    "data.holdout": (lambda v: 0 < v < 1, "a share strictly between 0 and 1"),
    "augment.p": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "augment.target": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "transfer.lr_g_mult": (lambda v: v > 0, "> 0"),
    "transfer.lr_d_mult": (lambda v: v > 0, "> 0"),
    "n": (lambda v: v >= 1, "an integer >= 1"),
}


def check_values(cfg) -> None:
    problems = []
    for key, (valid, expected) in CHECKS.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is None:
            continue
        try:
            ok = valid(value)
        except TypeError:
            ok = False
        if not ok:
            problems.append(f"{key}={value!r} must be {expected}")
    if problems:
        raise UserError("invalid settings: " + "; ".join(problems))
