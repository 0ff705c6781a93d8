"""dfc: near-lossless deep-feature codec (Choi & Bajic 2018), as specified in SPEC.md.

    >>> import numpy as np, dfc
    >>> x = np.maximum(np.random.default_rng(0).normal(size=(8, 13, 13)), 0).astype(np.float32)
    >>> stream = dfc.encode(x, bits=8)
    >>> y = dfc.decode(stream)            # float32 (C, H, W), SPEC §4.3
    >>> d = dfc.decode_stream(stream)     # header, integers (uint16) and floats

``dfc.encode``/``dfc.decode`` use the compiled backend ``dfc.fast`` when it is built,
else the pure-Python ``dfc.reference``; both produce identical bytes and outputs.
Set ``DFC_PUREPYTHON=1`` to force the reference. ``dfc.backend`` names the one in use.
"""

from __future__ import annotations

import os
from types import ModuleType

from .errors import DecodeError, TruncatedStreamError

# In a source checkout (SPEC.md beside this folder) the subpackages dfc.reference,
# dfc.fast and dfc.tools live in the top-level folders reference/, fast/ and tools/;
# look for them there too, so that `python -m dfc` and `python -m pytest` work in
# the checkout as they do after `pip install .` (which maps the folders itself).
_checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.isfile(os.path.join(_checkout, "SPEC.md")) and os.path.isfile(
    os.path.join(_checkout, "reference", "tables.py")
):
    __path__.append(_checkout)

__version__ = "0.1.0"
FORMAT_VERSION = 1


def _select_backend() -> tuple[str, ModuleType]:
    if os.environ.get("DFC_PUREPYTHON", "") not in ("", "0"):
        from . import reference

        return "reference", reference
    try:
        from . import fast
    except ImportError:
        from . import reference

        return "reference", reference
    return "fast", fast


backend, _impl = _select_backend()

encode = _impl.encode
decode = _impl.decode
decode_stream = _impl.decode_stream


def check(data: bytes) -> bool:
    """True if ``data`` starts with the dfc magic (SPEC §3.2); it may still be invalid."""
    return bytes(data[:4]) == b"\x89DFC"


def version() -> str:
    """Package version, format version and backend, e.g. '0.1.0 (format 1, fast)'."""
    return f"{__version__} (format {FORMAT_VERSION}, {backend})"


__all__ = [
    "DecodeError",
    "TruncatedStreamError",
    "backend",
    "check",
    "decode",
    "decode_stream",
    "encode",
    "version",
]
