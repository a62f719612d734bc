"""Images kept as files: a folder of PNG and JPEG files, searched recursively, read as a table of
one uint8 column per pixel (pixel0, pixel1, ... in the C, H, W order of data.shape), plus a label
column when the images sit in class sub-folders (torchvision's ImageFolder layout):

    pets/cat/001.png  pets/cat/002.jpg  pets/dog/a.jpeg ...   data.label=label: "cat", "dog"
    faces/0001.png  faces/0002.png ...                        unlabelled

Every image becomes what data.shape says the model sees. It is converted to that many channels
(1: grayscale, 3: RGB; palettes are expanded, transparent pixels composited on black, 16-bit
values kept to their high 8 bits), scaled with Pillow's antialiased bicubic filter until it just
covers H x W (the short side, for a square shape), and cropped at the centre. Images smaller
than H x W are not enlarged: they are refused, or left out with data.skip_bad=true.

Each image is decoded once when the folder is read (training then reuses the rows every epoch),
straight into its row of one uint8 array, by a few threads: Pillow lets go of Python's lock
while it decodes and resizes, so they work in parallel.
`write_image_folder` goes the other way, from generated rows to PNG files."""

import logging
import os
import shutil
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ganxfer.data.images import eight_bit, image_shape
from ganxfer.errors import UserError
from ganxfer.settings import Data

log = logging.getLogger(__name__)

SUFFIXES = (".png", ".jpg", ".jpeg")
MODES = {1: "L", 3: "RGB"}  # channels -> the Pillow mode an image is converted to
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I")  # Pillow's modes for 16-bit (and 32-bit integer) grayscale
MAX_WORKERS = 8
SHOWN = 3  # bad files named in a message; the rest are counted


class BadImage(Exception):
    """A file that cannot be used: unreadable, or smaller than data.shape (`too_small`)."""

    def __init__(self, reason: str, too_small: bool = False):
        super().__init__(reason)
        self.too_small = too_small


def read_image_folder(data: Data) -> pd.DataFrame:
    """The images under data.path as rows of uint8 pixels; with data.label set, the name of each
    image's class folder in that column. The index is the row's position: images in path order."""
    root = _folder(data.path)
    shape = _channels_checked(image_shape(data.shape))
    files = image_files(root)
    labels = folder_labels(root, files, data.label)
    pixels, problems = decode_all(files, shape)
    if problems:
        skip_bad = bool(data.skip_bad)
        pixels, labels = _leave_out(problems, pixels, files, labels, root, shape, skip_bad)
    table = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(pixels.shape[1])], copy=False)
    if labels is not None:
        table.insert(0, data.label, labels)
    return table


def _folder(path) -> Path:
    if path is None:
        raise UserError("data=images needs a folder of images: data.path=DIR")
    root = Path(str(path))
    if not root.exists():
        raise UserError(f"image folder not found: {root}")
    if not root.is_dir():
        raise UserError(f"data.path={root} is a file: data=images reads a folder of PNG or JPEG files "
                        "(data=image_csv reads images stored as CSV rows)")
    return root


def _channels_checked(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    if shape[0] not in MODES:
        raise UserError(f"data.shape={list(shape)}: image files are read with 1 channel (grayscale) or 3 (RGB)")
    return shape


def image_files(root: Path) -> list[Path]:
    """Every PNG and JPEG file under root, in path order; hidden files (.DS_Store, ._name) are not images."""
    found = sorted(path for path in root.rglob("*") if path.is_file()
                   and not any(part.startswith(".") for part in path.relative_to(root).parts))
    images = [path for path in found if path.suffix.lower() in SUFFIXES]
    if not found:
        raise UserError(f"image folder {root} is empty: put PNG or JPEG files in it, in one sub-folder "
                        "per class or all in the folder itself")
    if not images:
        raise UserError(f"image folder {root} holds {len(found)} file(s) but no PNG or JPEG image "
                        f"(.png, .jpg, .jpeg): {_few([path.relative_to(root) for path in found])}")
    return images


def folder_labels(root: Path, files: list[Path], label) -> np.ndarray | None:
    """With data.label set, each image's class: the name of the sub-folder of root it is in.
    Folder names that are all whole numbers (0, 1, ... 9) become integers, so that
    data.classes=[5,6] reads as it does for a CSV file's label column."""
    if not label:
        return None
    names = [path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else None for path in files]
    loose = [path.relative_to(root) for path, name in zip(files, names) if name is None]
    if len(loose) == len(files):
        raise UserError(f"data.label={label} names each image's class by its sub-folder, but {root} has no "
                        "sub-folders with images: set data.label=null to read a flat folder unlabelled")
    if loose:
        raise UserError(f"{len(loose)} image(s) lie in {root} itself, outside the class sub-folders "
                        f"({_few(loose)}): move them into a class folder, or set data.label=null to read "
                        "every image unlabelled")
    if all(name.isdigit() and str(int(name)) == name for name in names):
        return np.array([int(name) for name in names])
    return np.array(names, dtype=object)


def decode_all(files: list[Path], shape: tuple[int, int, int]) -> tuple[np.ndarray, dict[int, BadImage]]:
    """Every file decoded into its row of one (files, C*H*W) uint8 array; the files that could not
    be, by row. Threads pay only when there are enough images to share out."""
    pixels = np.zeros((len(files), int(np.prod(shape))), dtype=np.uint8)

    def decode_into(row: int) -> str | BadImage:
        """Fills the row; returns the mode the image was stored in, or what was wrong with it."""
        try:
            pixels[row], mode = decode(files[row], shape)
            return mode
        except BadImage as problem:
            return problem

    workers = max(1, min(os.cpu_count() or 1, MAX_WORKERS, len(files) // 64))
    if workers == 1:
        outcomes = [decode_into(row) for row in range(len(files))]
    else:
        with ThreadPoolExecutor(workers) as pool:
            outcomes = list(pool.map(decode_into, range(len(files))))
    problems = {row: outcome for row, outcome in enumerate(outcomes) if isinstance(outcome, BadImage)}
    modes = Counter(outcome for outcome in outcomes if isinstance(outcome, str))
    converted = {mode: count for mode, count in modes.items() if mode != MODES[shape[0]]}
    if converted:
        log.info("converted to %s: %s", MODES[shape[0]],
                 ", ".join(f"{count} {mode} image(s)" for mode, count in sorted(converted.items())))
    return pixels, problems


def decode(path: Path, shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """One image file as a flat row of C*H*W uint8 pixels, and the Pillow mode it was stored in."""
    from PIL import Image, ImageOps  # Pillow is imported on use, here and below: a table's run needs none of it

    channels, height, width = shape
    try:
        with Image.open(path) as image:
            mode = image.mode
            image.draft(MODES[channels], (width, height))  # JPEG: decode at a smaller scale, still >= H x W
            if image.width < width or image.height < height:
                raise BadImage(f"{image.width}x{image.height}", too_small=True)
            picture = ImageOps.fit(converted(image, channels), (width, height), Image.Resampling.BICUBIC)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        # Pillow's messages: "cannot identify image file", "image file is truncated", "broken PNG file"
        raise BadImage(str(err).replace(str(path), "").strip(" '") or type(err).__name__) from None
    return np.asarray(picture).reshape(height, width, channels).transpose(2, 0, 1).ravel(), mode


def converted(image: "Image.Image", channels: int) -> "Image.Image":
    """The image in the mode data.shape asks for, whatever mode it was stored in."""
    from PIL import Image

    if image.mode in SIXTEEN_BIT:
        high_bits = np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8
        image = Image.fromarray(high_bits.astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return image.convert(MODES[channels])


def _leave_out(problems: dict[int, BadImage], pixels: np.ndarray, files: list[Path], labels, root: Path,
               shape: tuple[int, int, int], skip_bad: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Stop at unusable files, naming them; with data.skip_bad=true, leave them out and say how many."""
    unreadable = {row: problem for row, problem in problems.items() if not problem.too_small}
    small = {row: problem for row, problem in problems.items() if problem.too_small}
    named = {kind: _few([f"{files[row].relative_to(root)} ({problem})" for row, problem in rows.items()])
             for kind, rows in (("unreadable", unreadable), ("small", small))}
    _, height, width = shape
    if not skip_bad:
        if unreadable:
            raise UserError(f"{len(unreadable)} of {len(files)} image file(s) in {root} cannot be read: "
                            f"{named['unreadable']}. Replace them, or set data.skip_bad=true to leave them out")
        raise UserError(f"{len(small)} of {len(files)} image(s) in {root} are smaller than data.shape's "
                        f"{height}x{width} and are not enlarged: {named['small']}. Give a smaller data.shape, "
                        "or set data.skip_bad=true to leave them out")
    if len(problems) == len(files):
        examples = "; ".join(names for names in named.values() if names)
        raise UserError(f"none of the {len(files)} image file(s) in {root} can be used (unreadable: "
                        f"{len(unreadable)}, smaller than {height}x{width}: {len(small)}): {examples}")
    log.warning("left out %d of %d image file(s) (data.skip_bad=true): %d unreadable, %d smaller than %dx%d",
                len(problems), len(files), len(unreadable), len(small), height, width)
    keep = [row for row in range(len(files)) if row not in problems]
    for new, old in enumerate(keep):  # moved up in place: the array is not held twice
        pixels[new] = pixels[old]
    return pixels[:len(keep)], None if labels is None else labels[keep]


def write_image_folder(rows: np.ndarray, shape: tuple[int, int, int], pixel_range: tuple[float, float],
                       out: Path, labels=None) -> int:
    """Rows of C*H*W decoded pixels in `pixel_range`, as 8-bit values (images.eight_bit), in PNG
    files 000000.png, 000001.png, ... in the new folder `out`, in a sub-folder per label when labels are given. The folder appears whole or not
    at all: the files are written beside it and moved into place at the end. Returns the count."""
    channels, height, width = shape
    if channels not in MODES:
        raise UserError(f"the model makes {channels}-channel images, which PNG files do not hold: "
                        "out=FILE.csv writes them as rows")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"out={out} already exists: give a new or empty folder, or out=FILE.csv for rows")
    if not out.parent.is_dir():
        raise UserError(f"out={out}: folder {out.parent} does not exist")
    from PIL import Image

    pictures = eight_bit(rows, pixel_range).reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for number, picture in enumerate(pictures):
            folder = staging if labels is None else staging / str(labels[number]).replace(os.sep, "_")
            folder.mkdir(exist_ok=True)
            Image.fromarray(picture.squeeze(2) if channels == 1 else picture).save(folder / f"{number:06d}.png")
        staging.replace(out)  # an empty folder of that name is replaced; a file or full folder was refused
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return len(pictures)


def _few(items: list, shown: int = SHOWN) -> str:
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(map(str, items[:shown])) + more
