"""Real photographs available offline, and random crops of them.

The built-in photographs are files inside PyPI wheels: scikit-image's
``skimage/data`` and matplotlib's ``mpl-data/sample_data``.  They are split
once and for all into a training pool and a test set: no test photograph, nor
any crop of one, is ever used in training.  ``--data DIR`` and ``--images``
replace them with a user's own files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError
from dfc.tools.extract import ImageSource, resolve_image

__all__ = ["IMAGE_SUFFIXES", "TEST_PHOTOS", "TRAIN_PHOTOS", "load_rgb", "open_pool", "photos_in", "random_crops",
           "resolve_photo"]

#: Natural photographs for training (colour first; grey ones are replicated to
#: RGB and teach luminance only).  Textures, microscopy and astronomy are in too:
#: they are real camera images, and the pool is small.
TRAIN_PHOTOS: tuple[str, ...] = (
    "skimage:astronaut", "skimage:rocket", "skimage:motorcycle_left", "skimage:hubble_deep_field",
    "skimage:retina", "skimage:ihc", "skimage:camera", "skimage:moon", "skimage:coins", "skimage:text",
    "skimage:page", "skimage:clock_motion", "skimage:brick", "skimage:grass", "skimage:gravel", "skimage:cell",
)
#: Colour photographs never used in training (motorcycle_right is left out: it
#: is the other half of a stereo pair in the training pool).
TEST_PHOTOS: tuple[str, ...] = ("skimage:chelsea", "skimage:coffee", "matplotlib:grace_hopper")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


#: ``skimage:NAME``, ``matplotlib:NAME`` or an image file (extract's resolver,
#: which knows both packages' photographs).
resolve_photo = resolve_image


def photos_in(folder: str | Path) -> list[ImageSource]:
    """Every image file in ``folder`` and its subfolders (ImageNet's layout,
    VOC's JPEGImages), sorted by path."""
    path = Path(folder)
    if not path.is_dir():
        raise CliError(f"{folder}: not a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CliError(f"{folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return [resolve_image(str(p)) for p in files]


def load_rgb(image: ImageSource) -> object:
    """The photograph as a Pillow RGB image (grey ones replicated)."""
    from PIL import Image

    try:
        with Image.open(image.path) as im:
            return im.convert("RGB")
    except OSError as exc:
        raise CliError(f"{image.path}: not a readable image ({exc})") from exc


#: Up to this many photographs are decoded once and kept in memory; from a
#: larger pool (a user's data set) each crop opens its photograph anew.
IN_MEMORY = 64


def open_pool(sources: Sequence[ImageSource]) -> Sequence[object]:
    """What :func:`random_crops` draws from: the decoded photographs, or for a
    large pool the sources themselves (opened crop by crop)."""
    return [load_rgb(src) for src in sources] if len(sources) <= IN_MEMORY else list(sources)


def random_crops(images: Sequence[object], count: int, size: int,
                 rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """``count`` random ``size`` x ``size`` crops, (count, 3, size, size) in [0, 1].

    ``images`` holds Pillow RGB images or :class:`ImageSource` (opened when
    drawn).  Each crop picks a photograph, a scale (the shorter side resized to
    between ``size`` and twice ``size``, never above the original), a position
    and a horizontal flip, all from ``rng``.
    """
    from PIL import Image

    out = np.empty((count, 3, size, size), dtype=np.float32)
    for i in range(count):
        im = images[int(rng.integers(len(images)))]
        if isinstance(im, ImageSource):
            im = load_rgb(im)
        w, h = im.size  # type: ignore[attr-defined]
        short = min(w, h)
        target = int(rng.integers(size, max(size, min(short, 2 * size)) + 1))
        scale = target / short
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        resized = im.resize((nw, nh), Image.Resampling.BICUBIC)  # type: ignore[attr-defined]
        left = int(rng.integers(nw - size + 1))
        top = int(rng.integers(nh - size + 1))
        crop = np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32) / np.float32(255.0)
        if rng.integers(2):
            crop = crop[:, ::-1]
        out[i] = crop.transpose(2, 0, 1)
    return out
