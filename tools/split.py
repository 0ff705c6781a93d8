"""Split inference: code the tensor a front end sends, finish inference on the
decoded tensor, and measure how far the answer moves.

A *split* cuts a network in two: the device runs the front end, codes the
tensor(s) that cross the cut with dfc and sends the stream; the cloud decodes
it and runs the back end.  This module holds

* :func:`code_tensor`, the one call a user who splits their own PyTorch or
  ONNX network needs: what the back end receives after coding at given
  settings, and the stream;
* the split machinery for the networks ``dfc split-eval`` measures:
  :class:`OnnxSplit` (any ONNX graph, cut with ONNX's own sub-graph extraction,
  ``onnx.utils.Extractor``), :class:`EffNetSplit` (EfficientNet-Lite0 through
  :mod:`dfc.tools.effnet`) and :class:`SequentialSplit` (a ``torch.nn.Sequential``);
* the agreement metrics, each defined in its docstring.

**The cut of an ONNX graph.**  A cut *at tensor T* puts in the front end every
node T depends on, and nothing else.  The tensors that cross the cut are the
front end's tensors that back-end nodes read: T itself and, where the network
has skip connections or a multi-scale neck, earlier tensors too.  In PP-OCRv4's
detector the RSE-FPN neck reads every backbone stage, so a cut at the end of the
stride-16 stage also sends the stride-4 and stride-8 stage outputs.  All crossing
tensors are coded (each as its own dfc stream, at the same settings) and their
bytes add up to what the split costs; nothing is hidden in the back end.

Needs ``pip install 'dfc[split]'``: torch for the torch splits, onnx and
onnxruntime for the ONNX ones; numpy alone for the metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError

if TYPE_CHECKING:
    import torch

__all__ = [
    "BOX_THRESHOLD",
    "IOU_THRESHOLD",
    "MIN_BOX_SIDE",
    "EffNetSplit",
    "PRF1",
    "OnnxSplit",
    "SequentialSplit",
    "Split",
    "SplitError",
    "box_iou",
    "boxes_from_map",
    "code_arrays",
    "code_tensor",
    "crossing_tensors",
    "kl_divergence",
    "log_softmax",
    "match_boxes",
    "precision_recall_f1",
    "top_k_agreement",
    "top_k_sets_equal",
]

INSTALL_HINT = "pip install 'dfc[split]'"

#: The probability a pixel of the detector's map must exceed to count as text
#: (DB post-processing's default ``thresh``).
BOX_THRESHOLD = 0.3
#: A detected box's shorter side must be at least this many pixels (DB's ``min_size``).
MIN_BOX_SIDE = 3
#: Boxes agree when their intersection over union is at least this.
IOU_THRESHOLD = 0.5

Array = npt.NDArray[np.float32]


class SplitError(CliError):
    """A split that cannot be made, reported in one line."""


# --------------------------------------------------------------------------
# coding the tensor that crosses the cut


def code_tensor(tensor: Any, bits: int = 8, profile: str = "extended",
                range: tuple[float, float] | None = None) -> tuple[Any, bytes]:  # noqa: A002 (dfc.encode's word)
    """Code a front end's output with dfc and decode it again, as the cloud sees it.

    ``tensor`` is a numpy array or a torch tensor, (C, H, W) or (N, C, H, W).
    Returns ``(decoded, stream)``: ``decoded`` has the input's type, shape,
    dtype (and torch device), holding the dequantized values (SPEC §4.3) that
    the back end should receive; ``stream`` is the dfc stream the device sends
    (for N > 1, a sequence of one stream per sample, SPEC §3.6), so
    ``len(stream)`` is what the split costs.  ``bits`` 1..16, ``profile``
    "extended" or "baseline" and ``range`` are those of :func:`dfc.encode`
    (a fixed range clips values outside it).

        decoded, stream = code_tensor(front(x), bits=6)
        y = back(decoded)
    """
    import dfc

    is_torch = type(tensor).__module__.startswith("torch")
    values = tensor.detach().cpu().numpy() if is_torch else np.asarray(tensor)
    if values.ndim not in (3, 4) or values.size == 0:
        raise ValueError(f"code_tensor needs a non-empty (C, H, W) or (N, C, H, W) tensor, got shape {values.shape}")
    x = np.ascontiguousarray(values, dtype=np.float32)
    if x.ndim == 3:
        stream = dfc.encode(x, bits, profile=profile, range=range)
        decoded: Array = np.asarray(dfc.decode(stream), dtype=np.float32)
    else:
        stream = dfc.encode_many(x, bits, profile=profile, range=range)
        decoded = dfc.decode_many(stream)
    if is_torch:
        import torch

        return torch.from_numpy(decoded).to(dtype=tensor.dtype, device=tensor.device), stream
    return decoded.astype(values.dtype, copy=False), stream


def code_arrays(arrays: Sequence[Array], bits: int, profile: str,
                range: tuple[float, float] | None = None) -> tuple[list[Array], int, float, float]:  # noqa: A002
    """Every crossing tensor (each (1, C, H, W)) coded as its own stream:
    ``(decoded, total bytes, encode seconds, decode seconds)``."""
    import time

    import dfc

    decoded, nbytes, t_enc, t_dec = [], 0, 0.0, 0.0
    for a in arrays:
        t0 = time.perf_counter()
        stream = dfc.encode(a[0], bits, profile=profile, range=range)
        t1 = time.perf_counter()
        y = np.asarray(dfc.decode(stream), dtype=np.float32)
        t2 = time.perf_counter()
        decoded.append(y[None])
        nbytes += len(stream)
        t_enc += t1 - t0
        t_dec += t2 - t1
    return decoded, nbytes, t_enc, t_dec


# --------------------------------------------------------------------------
# splits


class Split:
    """A network cut in two: ``front`` (network input -> the crossing tensors,
    each (N, C, H, W) float32) and ``back`` (those tensors -> network output).
    ``full`` is the unsplit network."""

    name: str
    crossing: list[str]

    def front(self, x: Array) -> list[Array]:
        raise NotImplementedError

    def back(self, tensors: Sequence[Array]) -> Array:
        raise NotImplementedError

    def full(self, x: Array) -> Array:
        raise NotImplementedError


def crossing_tensors(model: Any, cut: str) -> list[str]:
    """The tensors of an ONNX graph that cross a cut at tensor ``cut``, in graph order.

    The front end is every node ``cut`` depends on; a crossing tensor is one
    the front end makes (or the graph input) that some other node reads.
    Constants (tensors that do not depend on the graph's input) never cross:
    the back end keeps its own copy."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    if cut not in producer:
        raise SplitError(f"no node makes a tensor named {cut!r}")
    constants = {init.name for init in graph.initializer}
    inputs = [i.name for i in graph.input if i.name not in constants]
    live = set(inputs)  # tensors that depend on the input; nodes are in topological order (ONNX rule)
    for node in graph.node:
        if any(i in live for i in node.input):
            live.update(node.output)
    front: set[int] = set()
    stack = [cut]
    while stack:
        node = producer.get(stack.pop())
        if node is not None and id(node) not in front:
            front.add(id(node))
            stack.extend(node.input)
    made_in_front = set(inputs) | {out for node in graph.node if id(node) in front for out in node.output}
    crossing: list[str] = []
    for node in graph.node:
        if id(node) in front:
            continue
        for name in node.input:
            if name in live and name in made_in_front and name not in crossing:
                crossing.append(name)
    if cut not in crossing and cut not in {o.name for o in graph.output}:
        raise SplitError(f"nothing reads tensor {cut!r}: it is no place to cut")
    if any(name in inputs for name in crossing):
        raise SplitError(f"a cut at {cut!r} leaves the back end reading the network input")
    return crossing


def _ort_session(model: Any) -> Any:
    """onnxruntime on the CPU, one thread, every optimisation off (as dfc extract)."""
    import onnxruntime as ort

    from dfc.tools.extract import session_options

    return ort.InferenceSession(model.SerializeToString(), session_options(),
                                providers=["CPUExecutionProvider"])


class OnnxSplit(Split):
    """An ONNX graph cut at one tensor with ``onnx.utils.Extractor``: the front
    end maps the graph input to the crossing tensors, the back end maps them to
    the graph's outputs (the first output is the one compared)."""

    def __init__(self, model: Any, cut: str, name: str | None = None) -> None:
        try:
            import onnx
            import onnx.shape_inference
            import onnx.utils
        except ImportError as exc:
            raise SplitError(f"ONNX splits need onnx and onnxruntime; {INSTALL_HINT}") from exc
        self.name = name or cut
        self.crossing = crossing_tensors(model, cut)
        inferred = onnx.shape_inference.infer_shapes(model)
        known = {v.name for v in inferred.graph.value_info}
        for t in self.crossing:  # the extractor wants a value_info for every new input and output
            if t not in known:
                inferred.graph.value_info.append(onnx.helper.make_empty_tensor_value_info(t))
        constants = {init.name for init in model.graph.initializer}
        self.input_name = next(i.name for i in model.graph.input if i.name not in constants)
        self.outputs = [o.name for o in model.graph.output]
        extractor = onnx.utils.Extractor(inferred)
        self._front = _ort_session(extractor.extract_model([self.input_name], self.crossing))
        self._back = _ort_session(extractor.extract_model(self.crossing, self.outputs))
        self._full = _ort_session(model)

    def front(self, x: Array) -> list[Array]:
        outs = self._front.run(self.crossing, {self.input_name: x})
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def back(self, tensors: Sequence[Array]) -> Array:
        feed = dict(zip(self.crossing, tensors, strict=True))
        return np.asarray(self._back.run(self.outputs[:1], feed)[0], dtype=np.float32)

    def full(self, x: Array) -> Array:
        return np.asarray(self._full.run(self.outputs[:1], {self.input_name: x})[0], dtype=np.float32)


class _TorchSplit(Split):
    """numpy in and out of a torch front and back end, without gradients."""

    def _front_t(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _back_t(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def front(self, x: Array) -> list[Array]:
        import torch

        with torch.no_grad():
            return [self._front_t(torch.from_numpy(x)).numpy().astype(np.float32, copy=False)]

    def back(self, tensors: Sequence[Array]) -> Array:
        import torch

        (z,) = tensors
        with torch.no_grad():
            out: Array = self._back_t(torch.from_numpy(np.ascontiguousarray(z))).numpy().astype(np.float32, copy=False)
        return out

    def full(self, x: Array) -> Array:
        import torch

        with torch.no_grad():
            out: Array = self._back_t(self._front_t(torch.from_numpy(x))).numpy().astype(np.float32, copy=False)
        return out


class EffNetSplit(_TorchSplit):
    """EfficientNet-Lite0 split by :func:`dfc.tools.effnet.front_end` and
    ``back_end`` (one crossing tensor); the input is the network's own
    (:func:`dfc.tools.effnet.network_input`), the output the class logits.
    ``full`` is the model's own forward pass."""

    def __init__(self, model: Any, split: str) -> None:
        from dfc.tools.effnet import split_block

        split_block(split)  # unknown names fail here, not on the first image
        self.model, self.name = model, split
        self.crossing = [f"_blocks.{split_block(split)}._depthwise_conv (after BN, ReLU6)"]

    def _front_t(self, x: torch.Tensor) -> torch.Tensor:
        from dfc.tools.effnet import front_end

        return front_end(self.model, self.name, x)

    def _back_t(self, z: torch.Tensor) -> torch.Tensor:
        from dfc.tools.effnet import back_end

        return back_end(self.model, self.name, z)

    def full(self, x: Array) -> Array:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy().astype(np.float32, copy=False)  # type: ignore[no-any-return]


class SequentialSplit(_TorchSplit):
    """A ``torch.nn.Sequential`` cut before layer ``index``."""

    def __init__(self, model: Any, index: int) -> None:
        if not 0 < index < len(model):
            raise SplitError(f"cut index {index}: the model has layers 0..{len(model) - 1}; cut between two")
        self.model, self.index = model, index
        self.name, self.crossing = f"layer{index}", [f"output of layer {index - 1}"]

    def _front_t(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.model[:self.index](x)
        return y

    def _back_t(self, z: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.model[self.index:](z)
        return y


# --------------------------------------------------------------------------
# agreement metrics: the unsplit network's answer is the reference


def log_softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """log softmax over the last axis, in float64."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))  # type: ignore[no-any-return]


def kl_divergence(reference_logits: npt.NDArray[Any], logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """KL(p_ref || p) in nats per row, p = softmax of the logits: how much
    the split network's class distribution departs from the unsplit one's."""
    lp_ref, lp = log_softmax(reference_logits), log_softmax(logits)
    return (np.exp(lp_ref) * (lp_ref - lp)).sum(axis=-1)  # type: ignore[no-any-return]


def top_k_agreement(reference_logits: npt.NDArray[Any], logits: npt.NDArray[Any], k: int) -> npt.NDArray[np.bool_]:
    """Per row: the unsplit network's top-1 class is among the split network's
    top ``k`` (k = 1: both pick the same class).  This is top-k accuracy with
    the unsplit answer as the label."""
    ref_top1 = np.argmax(reference_logits, axis=-1)
    top = np.argsort(-np.asarray(logits), axis=-1, kind="stable")[..., :k]
    return (top == ref_top1[..., None]).any(axis=-1)  # type: ignore[no-any-return]


def top_k_sets_equal(reference_logits: npt.NDArray[Any], logits: npt.NDArray[Any], k: int) -> npt.NDArray[np.bool_]:
    """Per row: both networks' top ``k`` classes are the same set (a stricter check)."""
    a = np.sort(np.argsort(-np.asarray(reference_logits), axis=-1, kind="stable")[..., :k], axis=-1)
    b = np.sort(np.argsort(-np.asarray(logits), axis=-1, kind="stable")[..., :k], axis=-1)
    return (a == b).all(axis=-1)  # type: ignore[no-any-return]


def boxes_from_map(prob: npt.NDArray[Any], threshold: float = BOX_THRESHOLD,
                   min_side: int = MIN_BOX_SIDE) -> npt.NDArray[np.int64]:
    """Text boxes of a detector's (H, W) probability map, (K, 4) as
    (top, left, bottom, right), bottom and right exclusive.

    A simplification of DB post-processing: pixels above ``threshold``, their
    8-connected components, each component's axis-aligned bounding box, boxes
    whose shorter side is under ``min_side`` dropped.  DB would instead fit a
    rotated rectangle, score it by the mean probability inside and dilate it
    (unclip); both networks go through the same steps here, so the boxes
    measure agreement, not detection quality."""
    from scipy import ndimage

    mask = np.asarray(prob) > threshold
    labels, _ = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    boxes = [(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in ndimage.find_objects(labels) if s is not None]
    kept = [b for b in boxes if min(b[2] - b[0], b[3] - b[1]) >= min_side]
    return np.asarray(kept, dtype=np.int64).reshape(-1, 4)


def box_iou(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Intersection over union of every box of ``a`` (K, 4) with every box of
    ``b`` (M, 4), boxes as (top, left, bottom, right) with exclusive ends."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    left = np.maximum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    right = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(bottom - top, 0, None) * np.clip(right - left, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)  # type: ignore[no-any-return]


def match_boxes(reference: npt.NDArray[Any], boxes: npt.NDArray[Any], iou: float = IOU_THRESHOLD) -> int:
    """How many of ``boxes`` match a reference box one to one at IoU >= ``iou``:
    pairs taken greedily, highest IoU first (the usual detection matching)."""
    overlaps = box_iou(reference, boxes)
    pairs = sorted(((float(overlaps[i, j]), i, j) for i, j in zip(*np.nonzero(overlaps >= iou), strict=True)),
                   reverse=True)
    used_ref: set[int] = set()
    used: set[int] = set()
    for _, i, j in pairs:
        if i not in used_ref and j not in used:
            used_ref.add(i)
            used.add(j)
    return len(used)


@dataclass(frozen=True)
class PRF1:
    """Precision, recall and F1 of box matching."""

    precision: float
    recall: float
    f1: float


def precision_recall_f1(matched: int, found: int, reference: int) -> PRF1:
    """Precision ``matched / found``, recall ``matched / reference`` and their
    harmonic mean; a ratio with nothing to count (no boxes on either side) is 1,
    since then the two networks agree."""
    p = matched / found if found else 1.0
    r = matched / reference if reference else 1.0
    return PRF1(p, r, 2 * p * r / (p + r) if p + r else 0.0)
