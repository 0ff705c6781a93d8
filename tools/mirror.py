"""The mirror network of the paper's Section IV: a front end played backwards.

Given the device's front end as a list of layers (:class:`LayerSpec`), the
mirror has the same layers in reverse order, each mapped as the paper maps
YOLOv2's (Section IV, "the same convolutional layers ... max-pooling layers
... mapped to up-sampling layers"), with these readings where the front ends
used here differ from YOLOv2:

- A convolution ``in -> out`` becomes a convolution ``out -> in`` with the same
  kernel size, stride 1 and "same" padding; a depthwise convolution stays
  depthwise (groups = channels), so the mirror keeps the front end's cost.
- Down-sampling is a strided convolution in EfficientNet-Lite0, max-pooling
  in YOLOv2.  Either becomes a nearest-neighbour up-sampling by the stride
  (YOLOv2's Keras/Darknet up-sampling layer is nearest-neighbour), placed
  before the mirrored convolution so that it works at the resolution its
  forward twin read.
- Each mirrored convolution is followed by batch norm and the forward layer's
  activation (none where the forward layer has none, as EfficientNet's linear
  projections); the last one, which produces the image, has no batch norm and
  a sigmoid, so that the output is an RGB image in [0, 1].
- Skip connections are not mirrored: the paper's mirror is a plain chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerSpec", "MirrorLayer", "build_mirror", "layer_table", "layers_of_sequential", "mirror_layers"]

ACTIVATIONS = ("relu6", "relu", "leaky_relu", "hardswish", "sigmoid", "none")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a front end, as its mirror needs to know it."""

    name: str
    kind: str  # "conv", "depthwise" or "pool"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    activation: str  # one of ACTIVATIONS


@dataclass(frozen=True)
class MirrorLayer:
    """One layer of the mirror; ``mirrors`` names the front-end layer it undoes."""

    mirrors: str
    kind: str  # "upsample", "conv" or "depthwise"
    in_channels: int
    out_channels: int
    kernel: int  # up-sampling factor for "upsample"
    batch_norm: bool
    activation: str


def mirror_layers(front: Sequence[LayerSpec]) -> list[MirrorLayer]:
    """The mirror of ``front`` (forward order in, mirror order out)."""
    if not front:
        raise ValueError("a mirror needs at least one front-end layer")
    convs = [spec for spec in front if spec.kind != "pool"]
    if not convs:
        raise ValueError("a mirror needs at least one convolution to produce the image")
    first_conv = convs[0]
    out: list[MirrorLayer] = []
    for spec in reversed(front):
        if spec.kind not in ("conv", "depthwise", "pool"):
            raise ValueError(f"layer {spec.name}: unknown kind {spec.kind!r}")
        if spec.activation not in ACTIVATIONS:
            raise ValueError(f"layer {spec.name}: unknown activation {spec.activation!r}")
        if spec.stride > 1:
            out.append(MirrorLayer(spec.name, "upsample", spec.out_channels, spec.out_channels,
                                   spec.stride, False, "none"))
        if spec.kind == "pool":
            continue
        last = spec is first_conv
        out.append(MirrorLayer(spec.name, spec.kind, spec.out_channels, spec.in_channels, spec.kernel,
                               not last, "sigmoid" if last else spec.activation))
    return out


def _activation(name: str) -> Any:
    from torch import nn

    if name == "leaky_relu":
        return nn.LeakyReLU(0.1)  # YOLOv2's slope
    return {"relu6": nn.ReLU6, "relu": nn.ReLU, "hardswish": nn.Hardswish, "sigmoid": nn.Sigmoid,
            "none": nn.Identity}[name]()


def build_mirror(front: Sequence[LayerSpec]) -> Any:
    """The mirror as a ``torch.nn.Sequential``, freshly initialised (trained from scratch)."""
    from torch import nn

    modules: list[Any] = []
    for layer in mirror_layers(front):
        if layer.kind == "upsample":
            modules.append(nn.Upsample(scale_factor=layer.kernel, mode="nearest"))
            continue
        groups = layer.in_channels if layer.kind == "depthwise" else 1
        modules.append(nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel, padding=layer.kernel // 2,
                                 groups=groups, bias=not layer.batch_norm))
        if layer.batch_norm:
            modules.append(nn.BatchNorm2d(layer.out_channels))
        modules.append(_activation(layer.activation))
    return nn.Sequential(*modules)


def layers_of_sequential(module: Any) -> list[LayerSpec]:
    """The layers of a plain front end given as a ``torch.nn.Sequential`` of
    convolutions, batch norms, activations and pooling layers."""
    from torch import nn

    names = {nn.ReLU6: "relu6", nn.ReLU: "relu", nn.LeakyReLU: "leaky_relu", nn.Hardswish: "hardswish"}
    specs: list[LayerSpec] = []
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            k, s = child.kernel_size[0], child.stride[0]
            if child.groups == 1:
                kind = "conv"
            elif child.groups == child.in_channels == child.out_channels:
                kind = "depthwise"
            else:
                raise ValueError(f"layer {name}: grouped convolutions other than depthwise have no mirror here")
            specs.append(LayerSpec(name, kind, child.in_channels, child.out_channels, k, s, "none"))
        elif isinstance(child, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = child.stride if isinstance(child.stride, int) else child.stride[0]
            c = specs[-1].out_channels if specs else 3
            specs.append(LayerSpec(name, "pool", c, c, 0, int(stride), "none"))
        elif type(child) in names and specs:
            last = specs[-1]
            specs[-1] = LayerSpec(last.name, last.kind, last.in_channels, last.out_channels, last.kernel,
                                  last.stride, names[type(child)])
        elif not isinstance(child, (nn.BatchNorm2d, nn.Identity)):
            raise ValueError(f"layer {name}: {type(child).__name__} has no mirror here")
    return specs


def layer_table(front: Sequence[LayerSpec], height: int, width: int) -> list[dict[str, Any]]:
    """The mirror's layers with the shape each outputs, for an input image of
    ``height`` x ``width`` (rows for ``dfc reconstruct describe``)."""
    for spec in front:
        height, width = -(-height // spec.stride), -(-width // spec.stride)
    rows: list[dict[str, Any]] = []
    for layer in mirror_layers(front):
        if layer.kind == "upsample":
            height, width = height * layer.kernel, width * layer.kernel
            params = 0
            what = f"up-sample x{layer.kernel} (nearest)"
        else:
            groups = layer.in_channels if layer.kind == "depthwise" else 1
            params = layer.out_channels * (layer.in_channels // groups) * layer.kernel ** 2
            params += 2 * layer.out_channels if layer.batch_norm else layer.out_channels
            what = (f"{'depthwise ' if layer.kind == 'depthwise' else ''}conv {layer.kernel}x{layer.kernel} "
                    f"{layer.in_channels}->{layer.out_channels}" + (" + BN" if layer.batch_norm else "")
                    + ("" if layer.activation == "none" else f" + {layer.activation}"))
        rows.append({"mirrors": layer.mirrors, "layer": what, "output": [layer.out_channels, height, width],
                     "parameters": params})
    return rows
