"""How closely data.range=widen's weight map keeps the source model where it was: for a finetune
run with data.range=widen (one of benchmarks/fewshot_study.py's, say), the source's G and D
before and after their weights are mapped to the run's widened schema, with no training between.

    python benchmarks/widen_map.py RUN [RUN ...] [--rows 20000]

RUN is a finetune's folder: its checkpoint gives the widened schema and the source's path. For
each widened column it prints how far the same z's samples move, decoded before and after, as a
share of the source's range (median, 90th percentile, largest), and the largest change of D's
logit over those samples (as raw rows, encoded by each schema)."""

import argparse
from pathlib import Path

import torch

from ganxfer import checkpoint, models
from ganxfer.checkpoint import sampler_weights
from ganxfer.data import Schema
from ganxfer.settings import group_from_saved
from ganxfer.transfer import ranges


def networks(state: dict, schema: Schema):
    generator, discriminator = models.build(group_from_saved("model", state["plan"]["model"]), schema.layout)
    return generator, discriminator


def compare(run: Path, rows: int) -> list[str]:
    finetuned = checkpoint.load(run / "checkpoints" / "last.ckpt")
    source_state = checkpoint.load(finetuned["plan"]["source_path"])
    source, widened = Schema.from_dict(source_state["schema"]), Schema.from_dict(finetuned["schema"])
    generator, discriminator = networks(source_state, source)
    generator.load_state_dict(sampler_weights(source_state["networks"]))
    discriminator.load_state_dict(source_state["networks"]["discriminator"])
    wide_generator, wide_discriminator = networks(source_state, widened)
    g_state, d_state = ranges.carry_over(wide_generator, wide_discriminator, generator.state_dict(),
                                         discriminator.state_dict(), source, widened)
    wide_generator.load_state_dict(g_state)
    wide_discriminator.load_state_dict(d_state)
    before = source.inverse(models.generate(generator, rows, 0, "cpu").numpy())
    after = widened.inverse(models.generate(wide_generator, rows, 0, "cpu").numpy())
    lines = [f"{run}:"]
    for old, new in zip(source.columns, widened.columns):
        if getattr(old, "low", None) == getattr(new, "low", None) and getattr(old, "high", None) == getattr(new, "high", None):
            continue
        moved = (after[old.name] - before[old.name]).abs() / (old.high - old.low)
        lines.append(f"  {old.name}: [{old.low:g}, {old.high:g}] -> [{new.low:g}, {new.high:g}]; samples moved by "
                     f"{moved.median():.2%} (median), {moved.quantile(0.9):.2%} (90th percentile), "
                     f"{moved.max():.2%} (largest) of the source's range")
    with torch.no_grad():
        logits = discriminator(torch.from_numpy(source.transform(before)))
        wide_logits = wide_discriminator(torch.from_numpy(widened.transform(before)))
    lines.append(f"  D's logit on the source's samples: largest change {float((logits - wide_logits).abs().max()):.2e} "
                 f"(logits up to {float(logits.abs().max()):.2f})")
    return lines


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="finetune run folders (data.range=widen)")
    parser.add_argument("--rows", type=int, default=20_000, help="samples drawn from each G")
    args = parser.parse_args(argv)
    text = "\n".join(line for run in args.runs for line in compare(run, args.rows))
    print(text)
    return text


if __name__ == "__main__":
    main()
