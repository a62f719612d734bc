"""The pairs of the few-shot study (benchmarks/fewshot_study.py): the bundled pairs it scores, the
tuning pairs on which alone a default may be chosen, and the blind pair, which chose nothing; and
the tables of the pairs that ganxfer does not bundle, written into the study's RUNS folder."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Pair:
    """A source and a target: the source's folder under RUNS/sources, and each side's data settings
    (`{runs}` stands for the RUNS folder)."""
    source: str
    source_data: tuple[str, ...]
    target_data: tuple[str, ...]


GENERATED = "generated.csv"  # the generated pair's table, written into RUNS by generated_table
TAILS = "tails.csv"  # the tails pair's table, written into RUNS by tails_table
PLANTS = "plants.csv"  # the plants pair's table, written into RUNS by plants_table
STROKES = "strokes.csv"  # the strokes pair's images, written into RUNS by strokes_table
SOURCE_STROKES, TARGET_STROKES = ("horizontal", "vertical", "plus"), ("diagonal", "x")  # kinds of strokes_table
STROKE_IMAGES = ("data=csv", f"data.path={{runs}}/{STROKES}", "data.shape=[8,8]", "data.pixel_range=[0,16]",
                 "data.label=kind")
PAIRS = {
    "digits": Pair("digits", ("data=digits",), ("data=digits_target",)),
    "health": Pair("health", ("data=health",), ("data=health_target",)),
}
TUNING_PAIRS = {
    "digits_reversed": Pair("digits59", ("data=digits", "data.classes=[5,6,7,8,9]"),
                            ("data=digits", "data.classes=[0,1,2,3,4]")),
    "charleston": Pair("health", ("data=health",), ("data=health_target", "data.classes=[Charleston]")),
    "generated": Pair("generated",
                      ("data=csv", f"data.path={{runs}}/{GENERATED}", "data.label=region", "data.classes=[north]"),
                      ("data=csv", f"data.path={{runs}}/{GENERATED}", "data.label=region", "data.classes=[south]")),
    "tails": Pair("tails",
                  ("data=csv", f"data.path={{runs}}/{TAILS}", "data.label=region", "data.classes=[wide]"),
                  ("data=csv", f"data.path={{runs}}/{TAILS}", "data.label=region", "data.classes=[narrow]")),
    "plants": Pair("plants",
                   ("data=csv", f"data.path={{runs}}/{PLANTS}", "data.label=plant", "data.classes=[old]"),
                   ("data=csv", f"data.path={{runs}}/{PLANTS}", "data.label=plant", "data.classes=[new]")),
    "strokes": Pair("strokes", (*STROKE_IMAGES, f"data.classes=[{','.join(SOURCE_STROKES)}]"),
                    (*STROKE_IMAGES, f"data.classes=[{','.join(TARGET_STROKES)}]")),
}
GAPMINDER = "gapminder.csv"  # the blind pair's table, written into RUNS by gapminder_table
BLIND_PAIRS = {
    "gapminder": Pair("gapminder",
                      ("data=csv", f"data.path={{runs}}/{GAPMINDER}", "data.label=continent",
                       "data.classes=[Americas,Asia,Europe,Oceania]"),
                      ("data=csv", f"data.path={{runs}}/{GAPMINDER}", "data.label=continent", "data.classes=[Africa]")),
}
EVERY_PAIR = {**PAIRS, **TUNING_PAIRS, **BLIND_PAIRS}


def generated_table() -> pd.DataFrame:
    """A made-up population in two regions, 4,000 people in the north and 1,000 in the south, who
    are older, poorer and see doctors more: ages, a skewed income, visits counted, spending that
    follows the visits (zero without any), and a plan that follows income."""
    rng = np.random.default_rng(0)

    def region(name: str, people: int, age: float, log_income: float, visit_rate: float) -> pd.DataFrame:
        ages = rng.normal(age, 12, people).clip(18, 90).round(1)
        incomes = rng.lognormal(log_income, 0.6, people).round(0)
        visits = rng.poisson(visit_rate * (1 + ages / 50))
        spending = (visits * rng.gamma(2.0, 60.0, people)).round(2)
        richer = rng.random(people) < 1 / (1 + np.exp(-(np.log(incomes) - log_income) * 2))
        plans = np.where(richer, rng.choice(["basic", "full"], people, p=[0.4, 0.6]),
                         rng.choice(["none", "basic"], people, p=[0.5, 0.5]))
        return pd.DataFrame({"region": name, "age": ages, "income": incomes, "doctor_visits": visits,
                             "spending": spending, "plan": plans})

    return pd.concat([region("north", 4000, 38, 10.0, 2.0), region("south", 1000, 52, 9.4, 3.5)],
                     ignore_index=True)


def tails_table() -> pd.DataFrame:
    """Towns in two regions: 4,000 in a wide one, whose sizes spread over six orders of magnitude
    (a few cities of millions), and 1,000 in a narrow one, none above some tens of thousands; shops
    follow the size, earnings grow a little with it, and big places are called cities. A target
    that fills a small part of its source's heavy-tailed range."""
    rng = np.random.default_rng(1)

    def region(name: str, towns: int, log_size: float, spread: float, age: float) -> pd.DataFrame:
        sizes = rng.lognormal(log_size, spread, towns).round(0)
        shops = rng.poisson(sizes / 500 + 1)
        ages = rng.normal(age, 10, towns).clip(18, 95).round(1)
        earnings = (rng.lognormal(10, 0.5, towns) * (1 + np.log(sizes) / 20)).round(0)
        kind = np.where(sizes > np.exp(log_size + spread), "city", rng.choice(["village", "town"], towns))
        return pd.DataFrame({"region": name, "town_size": sizes, "shops": shops, "age": ages,
                             "earnings": earnings, "kind": kind})

    return pd.concat([region("wide", 4000, 9.0, 1.8, 40), region("narrow", 1000, 8.0, 0.8, 45)],
                     ignore_index=True)


def plants_table() -> pd.DataFrame:
    """Machine readings from two plants: 4,000 from an old one and 1,000 from a new one that runs
    faster and hotter, draws more power, and whose machines shake more as they speed up where the
    old plant's shook less; defects follow the shaking, and the new plant works a night shift the
    old one rarely does. A target far from its source: shifted by one to three of the source's
    standard deviations, some values past the source's range, and one relation turned round."""
    rng = np.random.default_rng(3)

    def plant(name: str, machines: int, speed: float, heat: float, shake_per_speed: float,
              night: float) -> pd.DataFrame:
        speeds = rng.normal(speed, 150, machines).clip(100).round(0)
        temperatures = (heat + speeds / 100 + rng.normal(0, 4, machines)).round(1)
        vibration = (3 + shake_per_speed * (speeds - speed) / 100 + rng.gamma(2.0, 0.5, machines)).clip(0).round(2)
        power = (speeds * rng.lognormal(0, 0.15, machines) / 10 + temperatures).round(1)
        defects = rng.poisson(0.2 + vibration / 2)
        shifts = rng.choice(["day", "evening", "night"], machines, p=[(1 - night) * 0.6, (1 - night) * 0.4, night])
        return pd.DataFrame({"plant": name, "speed": speeds, "temperature": temperatures, "vibration": vibration,
                             "power": power, "defects": defects, "shift": shifts})

    return pd.concat([plant("old", 4000, 1200, 40, -0.8, 0.05), plant("new", 1000, 1450, 46, 1.2, 0.4)],
                     ignore_index=True)


STROKE_DIRECTIONS = {"horizontal": (0, 1), "vertical": (1, 0), "falling": (1, 1), "rising": (-1, 1)}
STROKE_KINDS = {  # each kind of image: the sets of strokes through one centre that it may draw
    "horizontal": [("horizontal",)], "vertical": [("vertical",)], "plus": [("horizontal", "vertical")],
    "diagonal": [("falling",), ("rising",)], "x": [("falling", "rising")],
}


def strokes_table() -> pd.DataFrame:
    """8x8 images of strokes on a dark background, one pixel a column (pixel0 to pixel63) with
    values 0-16 as in the bundled digits, which it does not read, and the image's `kind`: 4,000 of
    horizontal bars, vertical bars and plus signs (the source), and 1,000 of the same strokes
    turned by 45 degrees (the target): diagonals, rising or falling, and x's. Each image has its
    own centre, stroke length and thickness (1 or 2 pixels), each stroke its own brightness, and
    every pixel a little noise."""
    rng = np.random.default_rng(2)

    def stroke(direction: str, centre: np.ndarray, arm: int, thickness: int) -> np.ndarray:
        """A line's pixels, `arm` pixels either side of the centre, doubled one pixel across
        (downwards for a horizontal one, else sideways) when thick; what falls off the image is cut."""
        pixels = centre + np.arange(-arm, arm + 1)[:, None] * np.array(STROKE_DIRECTIONS[direction])
        if thickness == 2:
            pixels = np.concatenate([pixels, pixels + ((1, 0) if direction == "horizontal" else (0, 1))])
        return pixels[((pixels >= 0) & (pixels < 8)).all(axis=1)]

    def image(kind: str) -> np.ndarray:
        centre, arm, thickness = rng.integers(1, 7, 2), rng.integers(2, 4), rng.integers(1, 3)
        choices = STROKE_KINDS[kind]
        picture = rng.normal(0, 1, (8, 8))
        for direction in choices[rng.integers(len(choices))]:
            rows, columns = stroke(direction, centre, arm, thickness).T
            picture[rows, columns] += rng.integers(10, 17)
        return picture.clip(0, 16).round().astype(np.int64).ravel()

    kinds = np.concatenate([rng.choice(SOURCE_STROKES, 4000), rng.choice(TARGET_STROKES, 1000)])
    table = pd.DataFrame([image(kind) for kind in kinds], columns=[f"pixel{i}" for i in range(64)])
    return table.assign(kind=kinds)


def gapminder_table(path: Path) -> None:
    """Gapminder as plotly ships it, without the country's name and codes (they name the row, they
    are not a quantity to generate): continent, year, life expectancy, population, GDP per head and
    the country's centroid. Written by the peers' Python: plotly is not one of ganxfer's packages."""
    from against_peers import peer_python

    script = ("import sys, plotly.data; plotly.data.gapminder(centroids=True)"
              ".drop(columns=['country', 'iso_alpha', 'iso_num']).to_csv(sys.argv[1], index=False)")
    subprocess.run([str(peer_python()), "-c", script, str(path)], check=True)


def write_tables(runs: Path, pairs: list[str]) -> None:
    """The tables of the chosen pairs that ganxfer does not bundle, written into RUNS once."""
    writers = {"generated": (GENERATED, lambda path: generated_table().to_csv(path, index=False)),
               "tails": (TAILS, lambda path: tails_table().to_csv(path, index=False)),
               "plants": (PLANTS, lambda path: plants_table().to_csv(path, index=False)),
               "strokes": (STROKES, lambda path: strokes_table().to_csv(path, index=False)),
               "gapminder": (GAPMINDER, gapminder_table)}
    for name, (file_name, write) in writers.items():
        if name in pairs and not (runs / file_name).exists():
            write(runs / file_name)
