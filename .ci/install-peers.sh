#!/usr/bin/env bash
# Install everything the lossless peer codecs of `dfc compare` need
# (dfc.tools.peers). Idempotent: packages that are already present are not
# fetched again, and apt-get update runs at most once per invocation and only
# when something is missing.
#
#   Debian: ffmpeg            HEVC (libx265) and VP9 (libvpx-vp9) peers
#           libjxl-tools      djxl, libopenjp2-tools: opj_decompress - only the
#           libopenjp2-tools  tests use them, as independent decoders of the
#                             JPEG XL / JPEG 2000 codestreams
#   PyPI:   Pillow            PNG peer
#           imagecodecs       JPEG 2000 (OpenJPEG), JPEG-LS (CharLS),
#                             JPEG XL (libjxl), WebP (libwebp) peers
set -euo pipefail

APT_PACKAGES=(ffmpeg libjxl-tools libopenjp2-tools)
PIP_PACKAGES=("Pillow>=10" "imagecodecs>=2024.1.1")
PYTHON="${PYTHON:-python3}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-peers: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "install-peers: apt packages already installed (${APT_PACKAGES[*]})"
fi

# pip leaves requirements that are already satisfied alone (no download).
echo "install-peers: pip install ${PIP_PACKAGES[*]}"
"$PYTHON" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"

# Report what is there (fails loudly if an install silently did not happen).
command -v ffmpeg djxl opj_decompress >/dev/null
"$PYTHON" -c 'import PIL, imagecodecs; print("install-peers: Pillow", PIL.__version__, "imagecodecs", imagecodecs.__version__)'
