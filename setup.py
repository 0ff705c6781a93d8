"""Build script for the compiled backend dfc.fast._codec (fast/_codec.pyx).

Everything else about the package lives in pyproject.toml; setuptools reads both.
The floating-point flags matter: SPEC §4 fixes the Q-layer in binary64 one
operation at a time, so the compiler must not contract a*b+c into a fused
multiply-add or reorder anything (-ffp-contract=off -fno-fast-math).
"""

from __future__ import annotations

import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    compile_args = ["/O2", "/fp:precise"]
else:
    compile_args = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

extensions = [
    Extension(
        "dfc.fast._codec",
        sources=["fast/_codec.pyx"],
        # _codec.pyx includes the .pxi files, which use the two headers
        depends=[
            "fast/tables.h", "fast/tables.pxi", "fast/platform.h", "fast/platform.pxi",
            "fast/errors.pxi", "fast/quantizer.pxi", "fast/palette.pxi",
            "fast/cabac_enc.pxi", "fast/cabac_dec.pxi", "fast/recon.pxi",
            "fast/cost.pxi", "fast/syntax.pxi",
        ],
        include_dirs=["fast", np.get_include()],
        extra_compile_args=compile_args,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={"language_level": "3"},
    ),
)
