"""Folders of PNG and JPEG files (data=images): what is read (shapes, dtypes, values, channel
order, labels from class folders), what is written back (out=DIR), and whole runs through the
console script on labelled and flat folders with a 32x32 DCGAN."""

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from sklearn.datasets import load_digits

from conftest import build_model, console_script, load_last, settings_of
from ganxfer import checkpoint, cli, models
from ganxfer.data import load_table, split_table
from ganxfer.data.image_folder import read_image_folder, write_image_folder
from ganxfer.errors import UserError
from ganxfer.metrics import frechet_distance
from ganxfer.metrics.features import random_image_features
from ganxfer.training.sampling import sampler as sampler_from_checkpoint

CONF = files("ganxfer.conf") / "data"
TINY_DCGAN = ["trainer.steps=4", "trainer.batch_size=16", "trainer.log_every=2", "trainer.ckpt_every=2",
              "trainer.device=cpu", "model=dcgan", "model.z_dim=8", "model.g_channels=4", "model.d_channels=4"]


def images_cfg(path, **changes):
    """data=images as Hydra composes it (its own file over data=csv's)."""
    config = OmegaConf.merge(*(OmegaConf.create((CONF / name).read_text()) for name in ("csv.yaml", "images.yaml")))
    del config["defaults"]
    return settings_of("data", OmegaConf.merge(config, {"path": str(path), **changes}))


def digit_folder(root: Path, per_class: int = 12, digits=range(10), labelled: bool = True, rgb: int = 6) -> Path:
    """The bundled 8x8 digits as 32x32 grayscale PNG files, in a folder per digit (or all in
    `root`), and `rgb` random colour JPEG and PNG images of other sizes among them."""
    data = load_digits()
    for digit in digits:
        folder = root / str(digit) if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        for number, picture in enumerate(data.images[data.target == digit][:per_class]):
            pixels = (picture * 255 / 16).astype(np.uint8)
            Image.fromarray(pixels).resize((32, 32), Image.Resampling.NEAREST).save(folder / f"{digit}_{number}.png")
    rng = np.random.default_rng(0)
    for number in range(rgb):
        folder = root / str(digits[number % len(digits)]) if labelled else root
        colour = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(colour).save(folder / f"colour{number}.{'jpg' if number % 2 else 'png'}")
    return root


def test_a_labelled_folder_reads_as_uint8_pixels_in_chw_order_with_integer_labels(tmp_path):
    digit_folder(tmp_path / "digits", per_class=3, digits=[3, 7], rgb=0)
    exact = np.zeros((32, 32, 3), dtype=np.uint8)
    exact[..., 0], exact[..., 1], exact[..., 2] = 200, np.arange(32)[None, :], np.arange(32)[:, None]
    Image.fromarray(exact).save(tmp_path / "digits" / "7" / "exact.png")

    table = read_image_folder(images_cfg(tmp_path / "digits", label="label"))
    assert table.shape == (7, 1 + 3 * 32 * 32) and list(table.columns[:2]) == ["label", "pixel0"]
    assert (table.dtypes.iloc[1:] == np.uint8).all() and table["label"].tolist() == [3, 3, 3, 7, 7, 7, 7]
    row = table[table.columns[1:]].to_numpy()[-1].reshape(3, 32, 32)  # files in path order: exact.png last
    np.testing.assert_array_equal(row, exact.transpose(2, 0, 1))  # red plane, then green, then blue
    gray = table[table.columns[1:]].to_numpy()[0].reshape(3, 32, 32)
    assert (gray[0] == gray[1]).all() and (gray[1] == gray[2]).all() and gray.max() > 200


def test_images_are_scaled_to_cover_the_shape_and_cropped_at_the_centre(tmp_path):
    picture = np.zeros((32, 40), dtype=np.uint8)
    picture[:, :4] = picture[:, -4:] = 255  # white bands that a centre crop of the width takes off
    Image.fromarray(picture).save(tmp_path / "wide.png")
    Image.fromarray(np.full((64, 64), 100, dtype=np.uint8)).save(tmp_path / "large.png")
    table = read_image_folder(images_cfg(tmp_path, shape=[1, 32, 32]))
    assert table.shape == (2, 32 * 32) and table.index.tolist() == [0, 1]
    assert (table.iloc[0] == 100).all()  # large.png: halved, the same grey
    assert (table.iloc[1] == 0).all()  # wide.png: no white left


def test_transparent_palette_and_16_bit_images_are_converted(tmp_path):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[..., 0], rgba[:16, :, 3] = 255, 255  # red; the bottom half fully transparent
    Image.fromarray(rgba).save(tmp_path / "a_rgba.png")
    Image.fromarray(np.full((32, 32), 0x8040, dtype=np.uint16)).save(tmp_path / "b_16bit.png")
    Image.fromarray(np.full((32, 32, 3), (0, 255, 0), dtype=np.uint8)).convert("P").save(tmp_path / "c_palette.png")
    assert Image.open(tmp_path / "b_16bit.png").mode.startswith("I")

    pixels = read_image_folder(images_cfg(tmp_path)).to_numpy().reshape(3, 3, 32, 32)
    np.testing.assert_array_equal(pixels[0, :, :16], np.array([255, 0, 0])[:, None, None] * np.ones((3, 16, 32)))
    assert (pixels[0, :, 16:] == 0).all()  # transparent: black
    assert (pixels[1] == 0x80).all()  # 16-bit: the high 8 bits
    assert (pixels[2, 1] == 255).all() and (pixels[2, [0, 2]] == 0).all()


def test_samples_are_not_written_into_a_folder_that_holds_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("earlier work")
    with pytest.raises(UserError, match="already exists: give a new or empty folder"):
        write_image_folder(np.zeros((2, 64)), (1, 8, 8), (0, 255), tmp_path / "out")
    assert [path.name for path in tmp_path.iterdir()] == ["out"] and (tmp_path / "out" / "keep.txt").exists()
    assert write_image_folder(np.zeros((2, 64)), (1, 8, 8), (0, 255), tmp_path / "empty") == 2


def test_written_samples_read_back_as_the_same_pixels_and_label_folders(tmp_path):
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 17, (6, 3 * 8 * 8))  # pixels on the bundled digits' 0-16 scale
    labels = np.array(["cat", "dog", "cat", "owl", "dog", "cat"])
    assert write_image_folder(rows, (3, 8, 8), (0, 16), tmp_path / "out", labels) == 6
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["cat", "dog", "owl"]
    table = read_image_folder(images_cfg(tmp_path / "out", shape=[3, 8, 8], label="label"))
    order = np.argsort(labels, kind="stable")  # read back in path order: by folder, then by number
    assert table["label"].tolist() == labels[order].tolist()
    np.testing.assert_array_equal(table.drop(columns="label").to_numpy(), np.rint(rows[order] * 255 / 16))
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging folder left


def test_classes_and_shots_select_by_folder_as_for_a_csv_label(tmp_path):
    digit_folder(tmp_path / "digits", per_class=10, digits=[0, 1, 2], rgb=0)
    cfg = images_cfg(tmp_path / "digits", label="label", classes=[1, 2], shots=8, shape=[1, 28, 28])
    table = load_table(cfg)
    assert set(table["label"]) == {1, 2} and table.shape[1] == 1 + 28 * 28
    split = split_table(table, cfg)
    assert len(split.train) == 8 and split.train["label"].value_counts().tolist() == [4, 4]


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("conditional", [False, True])
def test_dcgan_sizes_itself_for_28_32_and_64_pixels(shape, conditional):
    config = {"name": "dcgan", "z_dim": 8, "g_channels": 4, "d_channels": 4, "conditional": conditional}
    width = int(np.prod(shape))
    generator, discriminator = build_model(config, width, shape, classes=3 if conditional else 0)
    labels = torch.tensor([0, 2]) if conditional else None
    rows = models.generate(generator, 2, seed=0, device="cpu", labels=labels)
    assert rows.shape == (2, width) and rows.abs().max() <= 1
    logits = discriminator(rows, labels) if conditional else discriminator(rows)
    assert logits.shape == (2,)
    ups = sum(isinstance(layer, torch.nn.ConvTranspose2d) for layer in generator.modules())
    assert ups == {28: 2, 32: 3, 64: 4}[shape[1]]  # down to 7x7 or 4x4


def test_the_label_free_image_features_are_seeded_and_tell_image_sets_apart():
    rng = np.random.default_rng(0)
    noise, other_noise = rng.uniform(-1, 1, (2, 60, 3 * 16 * 16))
    stripes = np.tile(np.repeat([-1.0, 1.0], 8), (60, 3 * 16)) + rng.normal(0, 0.05, (60, 3 * 16 * 16))
    features = random_image_features(noise, (3, 16, 16), seed=0)
    assert features.shape == (60, 128) and np.isfinite(features).all()
    np.testing.assert_array_equal(features, random_image_features(noise, (3, 16, 16), seed=0))
    assert frechet_distance(features, random_image_features(other_noise, (3, 16, 16))) < 0.25 * frechet_distance(
        features, random_image_features(stripes, (3, 16, 16)))


def console(cwd: Path, stage: str, *args: str) -> Path:
    """Runs the installed console script; returns its run directory."""
    run = cwd / f"run_{stage}"
    result = subprocess.run([console_script(), stage, *args, f"hydra.run.dir={run}"], cwd=cwd, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_labelled_folders_pretrain_finetune_evaluate_sample(tmp_path):
    """Digits 0-4 as the source, 5-9 the target, conditional on the folder's digit."""
    folder = digit_folder(tmp_path / "digits", per_class=12)
    data = ["data=images", f"data.path={folder}", "data.label=label", "model.conditional=true"]
    source = console(tmp_path, "pretrain", *data, "data.classes=[0,1,2,3,4]", *TINY_DCGAN)
    target = console(tmp_path, "finetune", *data, "data.classes=[5,6,7,8,9]", "data.shots=20", "transfer=freeze_d",
                     f"ckpt={source}/checkpoints/last.ckpt", *TINY_DCGAN)
    evaluated = console(tmp_path, "evaluate", f"ckpt={target}/checkpoints/last.ckpt", "trainer.device=cpu",
                        "metrics=[fd_features,kid_features]")
    record = json.loads((evaluated / "metrics.json").read_text())
    assert record["fd_features"] >= 0 and np.isfinite(record["kid_features"])
    assert (evaluated / "real_vs_synthetic.png").stat().st_size > 0
    assert len(list(evaluated.glob("feature_net_*.npz"))) == 1  # labels: the classifier's features

    console(tmp_path, "sample", f"ckpt={target}/checkpoints/last.ckpt", "n=10", "per_class=2",
            f"out={tmp_path / 'fakes'}", "trainer.device=cpu")
    written = sorted((tmp_path / "fakes").rglob("*.png"))
    assert sorted({path.parent.name for path in written}) == [str(digit) for digit in range(10)]
    assert len(written) == 20 and Image.open(written[0]).size == (32, 32) and Image.open(written[0]).mode == "RGB"


def test_a_flat_folder_trains_unlabelled_and_samples_as_files_or_rows(tmp_path):
    folder = digit_folder(tmp_path / "flat", per_class=6, labelled=False)
    data = ["data=images", f"data.path={folder}", "data.shape=[1,32,32]"]
    source = console(tmp_path, "pretrain", *data, *TINY_DCGAN)
    target = console(tmp_path, "finetune", *data, "transfer=l2sp", f"ckpt={source}/checkpoints/last.ckpt",
                     *TINY_DCGAN)
    evaluated = console(tmp_path, "evaluate", f"ckpt={target}/checkpoints/last.ckpt", "trainer.device=cpu",
                        "metrics=[fd_features,kid_features]")
    record = json.loads((evaluated / "metrics.json").read_text())
    assert record["fd_features"] >= 0 and "kid_features" in record and not record["skipped"]
    assert not list(evaluated.glob("feature_net_*.npz"))  # no labels: the random network's features

    sampled = console(tmp_path, "sample", f"ckpt={target}/checkpoints/last.ckpt", "n=5", f"out={tmp_path / 'fakes'}")
    pictures = [np.asarray(Image.open(path)) for path in sorted((tmp_path / "fakes").glob("*.png"))]
    assert len(pictures) == 5 and all(p.shape == (32, 32) and p.dtype == np.uint8 for p in pictures)
    assert (sampled / "samples.png").exists()
    console(tmp_path, "sample", f"ckpt={target}/checkpoints/last.ckpt", "n=5", f"out={tmp_path / 'fakes.csv'}")
    rows = np.loadtxt(tmp_path / "fakes.csv", delimiter=",", skiprows=1)
    assert rows.shape == (5, 32 * 32) and rows.min() >= 0 and rows.max() <= 255
    # That the files and the rows of one sample hold the same pixels is checked in one process:
    # test_one_sample_holds_the_same_pixels_as_png_files_csv_and_parquet_rows.


STRATEGIES = sorted(path.name.removesuffix(".yaml") for path in (files("ganxfer.conf") / "transfer").iterdir()
                    if path.name.endswith(".yaml") and not path.name.startswith("_"))
UNCONDITIONAL_ONLY = {"ewc", "minegan", "scale_shift", "cdc", "dcl"}  # they refuse conditional models, saying why


@pytest.fixture(scope="module")
def digits_sources(tmp_path_factory) -> tuple[Path, dict[bool, Path]]:
    """32x32 DCGANs pretrained on digits 0-4 from a folder of PNG files: {conditional: checkpoint}."""
    folder = digit_folder(tmp_path_factory.mktemp("images") / "digits", per_class=8, rgb=0)
    sources = {}
    for conditional in (False, True):
        run = tmp_path_factory.mktemp("source")
        sys.argv = ["ganxfer"]
        assert cli.main(["pretrain", "data=images", f"data.path={folder}", "data.label=label",
                         "data.classes=[0,1,2,3,4]", f"model.conditional={conditional}", *TINY_DCGAN,
                         f"hydra.run.dir={run}"]) == 0
        sources[conditional] = run / "checkpoints" / "last.ckpt"
    return folder, sources


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_transfer_strategy_finetunes_a_32x32_dcgan(ganxfer, digits_sources, strategy):
    """Conditional on the digit wherever the strategy allows it."""
    folder, sources = digits_sources
    conditional = strategy not in UNCONDITIONAL_ONLY
    run = ganxfer("finetune", "data=images", f"data.path={folder}", "data.label=label", "data.classes=[5,6,7,8,9]",
                  "data.shots=20", f"model.conditional={conditional}", f"transfer={strategy}",
                  f"ckpt={sources[conditional]}", *TINY_DCGAN)
    state = load_last(run)
    assert state["stage"] == "finetune" and state["step"] == 4
    labels = torch.arange(10) if conditional else None  # the source's digits 0-4 and the target's 5-9
    rows = models.generate(sampler_from_checkpoint(state, "cpu"), 10, seed=0, device="cpu", labels=labels)
    assert rows.shape == (10, 3 * 32 * 32) and torch.isfinite(rows).all()
    if strategy == "freeze_d":  # D's first block is carried over as it was
        def first_block(networks):
            return {name: value for name, value in networks["discriminator"].items() if "body.0." in name}
        frozen, before = first_block(state["networks"]), first_block(checkpoint.load(sources[True])["networks"])
        assert frozen and all(torch.equal(value, before[name]) for name, value in frozen.items())


def test_image_folders_as_the_domains_of_data_multi(ganxfer, tmp_path):
    """Each folder one domain, named by the folder; fine-tuning adds another folder as a new one."""
    root = digit_folder(tmp_path / "digits", per_class=6, rgb=0)
    data = ["data.shape=[1,32,32]", "data.pixel_range=[0,255]", *TINY_DCGAN]
    source = ganxfer("pretrain", "data=multi", f"data.sources=[{root / '0'},{root / '1'}]", *data)
    assert load_last(source)["schema"]["condition"]["values"] == ["0", "1"]
    target = ganxfer("finetune", "data=images", f"data.path={root / '7'}", f"ckpt={source}/checkpoints/last.ckpt",
                     *data)
    state = load_last(target)
    assert state["schema"]["condition"]["values"] == ["0", "1", "7"] and state["schema"]["image_shape"] == [1, 32, 32]


def test_the_decode_benchmark_runs_at_a_tiny_size(tmp_path):
    script = Path(__file__).parents[1] / "benchmarks" / "image_decode.py"
    result = subprocess.run([sys.executable, str(script), "--images", "40", "--size", "32", "--steps", "2"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in ("images/s", "peak traced allocations", "uint8 array", "s per 32x32 DCGAN step"):
        assert figure in result.stdout


def test_one_sample_holds_the_same_pixels_as_png_files_csv_and_parquet_rows(ganxfer, digits_sources, tmp_path):
    """The pixels are decoded and rounded once (Schema.inverse) and every writer writes those
    values: bit for bit the same numbers, on the CPU with one thread, in one process."""
    _, sources = digits_sources
    sample = ["sample", f"ckpt={sources[False]}", "n=6", "seed=3", "trainer.device=cpu"]
    for out in ("fakes", "fakes.csv", "fakes.parquet"):
        ganxfer(*sample, f"out={tmp_path / out}")
    pictures = np.stack([np.asarray(Image.open(path)) for path in sorted((tmp_path / "fakes").glob("*.png"))])
    from_files = pictures.transpose(0, 3, 1, 2).reshape(6, -1)  # H, W, C -> the rows' C, H, W order
    from_csv = pd.read_csv(tmp_path / "fakes.csv").to_numpy()
    from_parquet = pd.read_parquet(tmp_path / "fakes.parquet").to_numpy()
    assert from_files.shape == (6, 3 * 32 * 32) and len(np.unique(from_files)) > 10  # not a blank picture
    np.testing.assert_array_equal(from_csv, from_files)
    np.testing.assert_array_equal(from_parquet, from_files)


def test_evaluate_decodes_the_folder_once(ganxfer, digits_sources, monkeypatch):
    from ganxfer.data import tables

    reads = []
    monkeypatch.setattr(tables, "read_image_folder", lambda cfg: reads.append(cfg.path) or read_image_folder(cfg))
    _, sources = digits_sources
    out = ganxfer("evaluate", f"ckpt={sources[True]}", "trainer.device=cpu", "metrics=[fd,memorisation]")
    record = json.loads((out / "metrics.json").read_text())
    assert len(reads) == 1 and "dcr_close_share" in record  # the training rows came from the same read
