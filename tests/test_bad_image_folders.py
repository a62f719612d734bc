"""Image folders that cannot be read as they are: a clear message naming the file or the count,
never a traceback; and the ones the run takes after leaving files out or converting them."""

import pathlib

import numpy as np
import pytest

from conftest import assert_user_error


def image_folder(folder: pathlib.Path, count: int = 8, size: int = 32, names: str = "good{}.png") -> pathlib.Path:
    """`count` random RGB images of size x size pixels in `folder`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / names.format(number))
    return folder


def truncated_image(path: pathlib.Path) -> None:
    image_folder(path.parent, count=1, names=f"{path.stem}_whole{path.suffix}")
    whole = path.with_name(f"{path.stem}_whole{path.suffix}")
    data = whole.read_bytes()
    whole.unlink()
    path.write_bytes(data[: len(data) // 2])


def other_modes(folder: pathlib.Path) -> None:
    """Images stored with transparency, a palette, 16 bits, one bit and CMYK, beside RGB ones."""
    from PIL import Image

    rgb = Image.open(image_folder(folder) / "good0.png")
    rgb.convert("RGBA").save(folder / "rgba.png")
    rgb.convert("LA").save(folder / "gray_alpha.png")
    rgb.convert("P").save(folder / "palette.png")
    rgb.convert("1").save(folder / "bilevel.png")
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)).save(folder / "sixteen_bit.png")


IMAGES = ["data=images", "data.path=images", "model=dcgan", "model.z_dim=4", "model.g_channels=4",
          "model.d_channels=4", "trainer.steps=2", "trainer.log_every=1", "trainer.ckpt_every=1",
          "trainer.batch_size=8", "trainer.device=cpu"]


@pytest.mark.parametrize("build, settings, phrases", [
    (lambda folder: None, [], ["image folder not found", "images"]),
    (lambda folder: folder.mkdir(), [], ["is empty", "PNG or JPEG"]),
    (lambda folder: [folder.mkdir(), (folder / "notes.txt").write_text("hi"), (folder / "a.csv").write_text("x\n1\n")],
     [], ["no PNG or JPEG", "notes.txt"]),
    (lambda folder: folder.write_bytes(b"\x89PNG"), [], ["is a file", "data=image_csv"]),
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.png")], [],
     ["1 of 9", "cannot be read", "broken.png", "data.skip_bad=true"]),
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.jpg")], [],
     ["cannot be read", "broken.jpg", "truncated"]),
    (lambda folder: [image_folder(folder), (folder / "fake.png").write_text("not an image")], [],
     ["cannot be read", "fake.png", "cannot identify"]),
    (lambda folder: [image_folder(folder), image_folder(folder, count=2, size=16, names="tiny{}.png")], [],
     ["2 of 10", "smaller than data.shape's 32x32", "tiny0.png (16x16)", "data.skip_bad=true"]),
    (lambda folder: [image_folder(folder, size=16), truncated_image(folder / "broken.png")], ["data.skip_bad=true"],
     ["none of the 9", "unreadable: 1", "smaller than 32x32: 8"]),
    (lambda folder: image_folder(folder), ["data.shape=[4,32,32]"], ["data.shape=[4, 32, 32]", "1 channel", "3 (RGB)"]),
    (lambda folder: image_folder(folder), ["data.label=label"], ["no sub-folders", "data.label=null"]),
    (lambda folder: [image_folder(folder / "cat"), image_folder(folder, count=1, names="stray.png")],
     ["data.label=label"], ["1 image(s)", "outside the class sub-folders", "stray.png", "data.label=null"]),
    (lambda folder: [image_folder(folder / "cat", count=4), image_folder(folder / "dog", count=4)],
     ["data.classes=[cat]"], ["data.classes", "data.label=label", "sub-folder"]),
], ids=["missing", "empty", "no-image-files", "a-file", "truncated-png", "truncated-jpeg", "not-an-image",
        "too-small", "nothing-usable", "four-channels", "flat-with-label", "stray-beside-classes",
        "classes-without-label"])
def test_bad_image_folder(tmp_path, build, settings, phrases, ganxfer_outcome):
    build(tmp_path / "images")
    assert_user_error(ganxfer_outcome(tmp_path, "pretrain", *IMAGES, *settings), *phrases)


@pytest.mark.parametrize("build, settings, phrases", [
    (lambda folder: [image_folder(folder), truncated_image(folder / "broken.png"),
                     image_folder(folder, count=2, size=16, names="tiny{}.png")],
     ["data.skip_bad=true"], ["left out 3 of 11", "1 unreadable, 2 smaller than 32x32"]),
    (other_modes, [], ["converted to RGB", "1 1 image(s)", "1 CMYK", "1 I;16", "1 LA", "1 P", "1 RGBA"]),
], ids=["skip-bad", "mixed-modes"])
def test_image_folder_with_files_left_out_or_converted(tmp_path, build, settings, phrases, ganxfer_outcome):
    """Not errors: the run goes on, and says what it left out or converted."""
    build(tmp_path / "images")
    result = ganxfer_outcome(tmp_path, "pretrain", *IMAGES, *settings)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for phrase in phrases:
        assert phrase in result.stdout + result.stderr, result.stdout + result.stderr
