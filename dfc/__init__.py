"""dfc: near-lossless deep-feature codec (Choi & Bajic 2018), as specified in SPEC.md.

    >>> import numpy as np, dfc
    >>> x = np.maximum(np.random.default_rng(0).normal(size=(8, 13, 13)), 0).astype(np.float32)
    >>> stream = dfc.encode(x, bits=8)     # extended profile (SPEC §11)
    >>> y = dfc.decode(stream)            # float32 (C, H, W), SPEC §4.3
    >>> d = dfc.decode_stream(stream)     # header, integers (uint16) and floats

``dfc.encode``/``dfc.decode`` use the compiled backend ``dfc.fast`` when it is built,
else the pure-Python ``dfc.reference``; both produce identical bytes and outputs.
``dfc.backend`` names the one in use. Two environment variables, read at import:

* ``DFC_PUREPYTHON=1`` chooses the reference even when ``dfc.fast`` is built;
* ``DFC_REQUIRE_FAST=1`` makes ``import dfc`` raise ImportError when ``dfc.fast``
  is not built (whatever ``DFC_PUREPYTHON`` chooses), so that a failed build
  cannot pass unnoticed as a quiet fallback (CI sets it).

Only an *absent* compiled module falls back to the reference. Any other error
while importing ``dfc.fast`` (a check inside the extension that fails, a missing
dependency of it) propagates: a broken build is never hidden.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from .errors import DecodeError, TruncatedStreamError
from .reference.tables import FORMAT_VERSION
from .sequence import decode_many, encode_many, split_streams

# The package version, written here only: pyproject.toml reads this line.
__version__ = "0.1.0"

#: The modules whose absence means "dfc.fast is not built" (an unbuilt checkout,
#: an install without a C compiler or with DFC_BUILD_FAST=0).
_FAST_MODULES = ("dfc.fast", "dfc.fast._codec")


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _import_fast() -> tuple[ModuleType | None, str]:
    """``(dfc.fast, "")``, or ``(None, why)`` when the compiled module is absent.

    Every other ImportError propagates, including a ModuleNotFoundError for a
    module that the extension itself imports.
    """
    try:
        return importlib.import_module("dfc.fast"), ""
    except ModuleNotFoundError as exc:
        if exc.name not in _FAST_MODULES:
            raise
        return None, str(exc) + _checkout_hint()


def _checkout_hint() -> str:
    """Where this dfc is an unbuilt source checkout, say so: run from the
    checkout's root, ``python -m`` imports it ahead of an installed dfc."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "setup.py").is_file() or not (root / "fast").is_dir():
        return ""
    return (f"; this dfc is the source checkout at {root}, which shadows an installed dfc when run "
            "from there: build it in place ('python setup.py build_ext --inplace') or run from another folder")


def _select_backend() -> tuple[str, ModuleType]:
    pure, require = _flag("DFC_PUREPYTHON"), _flag("DFC_REQUIRE_FAST")
    fast: ModuleType | None = None
    if require or not pure:
        fast, why = _import_fast()
        if fast is None and require:
            raise ImportError(
                f"DFC_REQUIRE_FAST=1 but the compiled backend dfc.fast is not built ({why}); "
                "install with a C compiler ('pip install .'), or in a checkout run "
                "'python setup.py build_ext --inplace'"
            )
    if pure or fast is None:
        return "reference", importlib.import_module("dfc.reference")
    return "fast", fast


backend, _impl = _select_backend()

#: The profile dfc.encode uses unless told (SPEC §3.2 profile 1, §11). The
#: implementation modules' own encode() keeps the baseline as its default, the
#: format's first profile, which their tests and tools address.
DEFAULT_PROFILE = "extended"


def encode(tensor: object, bits: int = 8, *, profile: str = DEFAULT_PROFILE, setting: str = "default",
           range: tuple[float, float] | None = None) -> bytes:  # noqa: A002 (the API's word for it)
    """Encode a (C, H, W) tensor into a dfc stream: the extended profile by default
    (SPEC §11; ``setting="fast"`` decodes about twice as fast for a little more),
    or ``profile="baseline"``, the paper's method (SPEC §5-§8).

    ``range=(lo, hi)`` fixes the quantizer's range instead of the tensor's own
    extremes (SPEC §4.2), as a deployed split network does to make frames
    comparable: values outside it are clipped (count them with
    :func:`outside_range`), so the coding is near-lossless only inside it."""
    stream: bytes = _impl.encode(tensor, bits, profile=profile, setting=setting, range=range)
    return stream


def outside_range(tensor: object, range: tuple[float, float]) -> int:  # noqa: A002
    """How many values of ``tensor`` ``encode(..., range=range)`` would clip."""
    from .reference.encoder import validate_range

    lo, hi = validate_range(range) or (0.0, 0.0)
    values = np.asarray(tensor, dtype=np.float32)
    return int(np.count_nonzero((values < np.float32(lo)) | (values > np.float32(hi))))


decode = _impl.decode
decode_stream = _impl.decode_stream


def check(data: bytes) -> bool:
    """True if ``data`` starts with the dfc magic (SPEC §3.2); it may still be invalid."""
    return bytes(data[:4]) == b"\x89DFC"


def version() -> str:
    """Package version, format version and backend, e.g. '0.1.0 (format 1, fast)'."""
    return f"{__version__} (format {FORMAT_VERSION}, {backend})"


__all__ = [
    "DEFAULT_PROFILE",
    "FORMAT_VERSION",
    "DecodeError",
    "TruncatedStreamError",
    "__version__",
    "backend",
    "check",
    "decode",
    "decode_many",
    "decode_stream",
    "encode",
    "encode_many",
    "outside_range",
    "split_streams",
    "version",
]
