"""Build script for the compiled backend dfc.fast._codec (fast/_codec.pyx).

Everything else about the package lives in pyproject.toml; setuptools reads both.
The floating-point flags matter: SPEC §4 fixes the Q-layer in binary64 one
operation at a time, so the compiler must not contract a*b+c into a fused
multiply-add or reorder anything (-ffp-contract=off -fno-fast-math).

The compiled backend is optional. Where it cannot be built (no C compiler, no
Python headers, no Cython), the build prints one warning line and installs the
pure-Python dfc.reference alone; ``import dfc`` then uses it. DFC_BUILD_FAST
chooses: unset, try and fall back; ``0``, do not try; ``1``, a failed build
is an error (CI and developers who want to know).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

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
            "fast/cost.pxi", "fast/syntax.pxi", "fast/ext.pxi", "fast/ext_rangecoder.h",
            "fast/ext_model.h", "fast/ext_predict.h", "fast/ext_syntax.h",
        ],
        include_dirs=["fast"],
        extra_compile_args=compile_args,
    )
]

#: What a machine without a working C toolchain raises during build_ext: a
#: compiler or linker that fails or is missing, or none known for the platform.
TOOLCHAIN_ERRORS = (CCompilerError, ExecError, PlatformError)


def _one_line(message: str, limit: int = 160) -> str:
    """``message`` on one line, its middle cut when long (a compiler's command line)."""
    text = " ".join(message.split())
    return text if len(text) <= limit else f"{text[:100]} ... {text[-(limit - 105):]}"


class OptionalBuildExt(build_ext):
    """build_ext that cythonizes when it runs and, unless DFC_BUILD_FAST=1,
    carries on without dfc.fast when the toolchain fails."""

    def run(self) -> None:
        choice = os.environ.get("DFC_BUILD_FAST", "")
        if choice == "0":
            self._without_fast("DFC_BUILD_FAST=0", skipped=True)
            return
        try:
            import Cython  # noqa: F401
        except ImportError as exc:
            if choice:
                raise
            self._without_fast(f"Cython is not installed: {exc}")
            return
        try:
            super().run()
        except TOOLCHAIN_ERRORS as exc:
            if choice:
                raise
            self._without_fast(_one_line(str(exc)))

    def build_extension(self, ext: Extension) -> None:
        from Cython.Build import cythonize

        # .pyx -> .c here, as Cython's own build_ext does; an error in the .pyx
        # is raised (Cython's CompileError is not a toolchain error).
        ext.sources = cythonize([ext], compiler_directives={"language_level": "3"})[0].sources
        super().build_extension(ext)

    def _without_fast(self, reason: str, skipped: bool = False) -> None:
        # A module left in build/lib by an earlier build would be packed into
        # this wheel: remove it, and leave nothing for install, bdist_wheel or
        # editable_wheel to collect.
        inplace, self.inplace = self.inplace, False
        for ext in self.extensions:
            stale = self.get_ext_fullpath(ext.name)
            if os.path.exists(stale):
                os.remove(stale)
        self.inplace = inplace
        self.extensions = []
        what = "not building" if skipped else "could not build"
        print(f"warning: dfc: {what} the compiled backend dfc.fast ({reason}); "
              "installing the pure-Python reference only", file=sys.stderr, flush=True)


setup(ext_modules=extensions, cmdclass={"build_ext": OptionalBuildExt})
