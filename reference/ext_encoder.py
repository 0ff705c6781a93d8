"""The reference encoder of profile 1: SPEC §11.12 (informative, but every
choice is pinned down so that all encoders that follow it agree byte for byte)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .ext_syntax import ExtParams, write_ext_payload
from .header import Header, frame_stream
from .quantizer import max_level, quantize, zero_level
from .tables import FORMAT_VERSION, PROFILE_EXTENDED, SETTING_FAST, SETTING_MIXING

#: SPEC §11.12: the setting names of the API.
SETTINGS: dict[str, int] = {"default": SETTING_MIXING, "fast": SETTING_FAST}


def setting_code(setting: str) -> int:
    """The header's setting for an API setting name; ValueError if unknown."""
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    return SETTINGS[setting]


def choose_split_offset(setting: int, qz: int, band_flag: int) -> int:
    """SPEC §11.12: where a magnitude's and a band depth's low bits start to be
    coded at probability one half. Late (6) where the zero level has contexts of
    its own (a zero level inside the range and no band: hardswish, SiLU), whose
    layers are the hardest to beat and barely faster with an earlier split;
    early (3) with a band (leaky activations) and in setting 1; 4 for setting 0
    without a zero level (ReLU): a little compression for speed where it costs
    least."""
    if qz > 0 and band_flag == 0:
        return 6
    if setting == SETTING_MIXING and band_flag == 0:
        return 4
    return 3


def trial_channels(channels: int) -> int:
    """SPEC §11.12: how many leading channels decide band_flag."""
    return -(-channels // 8)


def encode_extended(values: npt.NDArray[np.float32], bits: int, setting: str = "default",
                    fixed_range: tuple[float, float] | None = None) -> bytes:
    """SPEC §11.12: a profile 1 stream of a validated float32 (C, H, W) tensor.

    When the zero level allows a band (0 < qz < L), the first
    trial_channels(C) channels are coded with band_flag 0 and 1, and the
    shorter decides (band_flag 0 on a tie); then the whole tensor is coded.
    """
    code = setting_code(setting)
    q, min_value, max_value = quantize(values, bits, fixed_range)
    channels, height, width = q.shape
    tiles = [q[c].tolist() for c in range(channels)]
    L = max_level(bits)
    qz = zero_level(min_value, max_value, bits)

    def params(band_flag: int, c: int) -> ExtParams:
        return ExtParams(n=bits, L=L, qz=qz, zb=qz if band_flag else 0, setting=code,
                         split_offset=choose_split_offset(code, qz, band_flag),
                         channels=c, height=height, width=width)

    band_flag = 0
    if 0 < qz < L:
        k = trial_channels(channels)
        sizes = [len(write_ext_payload(params(flag, k), tiles[:k])) for flag in (0, 1)]
        band_flag = 1 if sizes[1] < sizes[0] else 0
    payload = write_ext_payload(params(band_flag, channels), tiles)
    split_offset = params(band_flag, channels).split_offset
    header = Header(
        format_version=FORMAT_VERSION, profile=PROFILE_EXTENDED, bit_depth=bits,
        channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value, payload_size=len(payload),
        setting=code, band_flag=band_flag, split_offset=split_offset,
    )
    return frame_stream(header, payload)
