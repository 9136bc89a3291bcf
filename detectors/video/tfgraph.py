"""Keeping only the classes Pantau reports in SSD-MobileNet's class predictors, in memory.

The network's six class-predictor convolutions score every anchor for all 91 COCO ids, and on a
small crop they are most of its work (13 of 21 ms at 128x128 on one core). Its scores are sigmoids,
one per class, independent of each other, so dropping the output channels of classes nobody asks for
changes no other score. This module rewrites those convolutions' weight and bias tensors in the
frozen TensorFlow graph (a protocol buffer) so that each keeps ``len(keep)`` classes per anchor, and
the text graph's ``num_classes`` to match; OpenCV then loads the smaller network from memory. The
pinned file on disk is never changed.

Only the protocol-buffer wire format is needed (no TensorFlow): a ``GraphDef`` is a list of
``NodeDef`` messages (field 1); a node's name is its field 1 and its attributes field 5 (map
entries: key 1, ``AttrValue`` 2); a constant's tensor is the ``AttrValue``'s field 8, a
``TensorProto`` whose shape is field 2 (``dim`` entries, field 2, each with ``size`` 1) and raw
little-endian values field 4.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class GraphFormatError(ValueError):
    """The graph is not laid out as this module expects (another model, another exporter)."""


def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, start of the field, start of its value, end) for each field."""
    pos, end = 0, len(data)
    while pos < end:
        start = pos
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, value_end = _varint(data, pos)
            yield number, wire, start, pos, value_end
            pos = value_end
        elif wire == _BYTES:
            length, value_start = _varint(data, pos)
            yield number, wire, start, value_start, value_start + length
            pos = value_start + length
        elif wire == _FIXED64:
            yield number, wire, start, pos, pos + 8
            pos += 8
        elif wire == _FIXED32:
            yield number, wire, start, pos, pos + 4
            pos += 4
        else:
            raise GraphFormatError(f"unsupported wire type {wire}")


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _BYTES) + _encode_varint(len(payload)) + payload


def _node_name(node: memoryview) -> str:
    for number, wire, _s, v0, v1 in _fields(node):
        if number == 1 and wire == _BYTES:
            return bytes(node[v0:v1]).decode()
    return ""


def _tensor_of(node: memoryview) -> tuple[int, int, memoryview]:
    """(start, end, bytes) of the node's ``value`` tensor within the node."""
    for number, wire, _s, v0, v1 in _fields(node):
        if number != 5 or wire != _BYTES:
            continue
        entry = node[v0:v1]
        key, value = "", None
        for n, w, _s2, e0, e1 in _fields(entry):
            if n == 1 and w == _BYTES:
                key = bytes(entry[e0:e1]).decode()
            elif n == 2 and w == _BYTES:
                value = (v0 + e0, v0 + e1)
        if key == "value" and value is not None:
            attr = node[value[0] : value[1]]
            for n, w, _s3, t0, t1 in _fields(attr):
                if n == 8 and w == _BYTES:
                    return value[0] + t0, value[0] + t1, node[value[0] + t0 : value[0] + t1]
    raise GraphFormatError(f"node {_node_name(node)} holds no tensor")


def _pruned_tensor(tensor: memoryview, channels: Sequence[int]) -> bytes:
    """The tensor with only ``channels`` of its last axis (float32 values in ``tensor_content``)."""
    dims: list[int] = []
    content: memoryview | None = None
    kept = bytearray()
    for number, wire, s, v0, v1 in _fields(tensor):
        if number == 2 and wire == _BYTES:
            shape = tensor[v0:v1]
            for n, w, _s, d0, d1 in _fields(shape):
                if n == 2 and w == _BYTES:
                    for m, mw, _s2, z0, _z1 in _fields(shape[d0:d1]):
                        if m == 1 and mw == _VARINT:
                            dims.append(_varint(shape[d0:d1], z0)[0])
        elif number == 4 and wire == _BYTES:
            content = tensor[v0:v1]
        else:
            kept += tensor[s:v1]  # dtype and anything else, as they are
    if content is None or not dims:
        raise GraphFormatError("a class-predictor tensor without raw float32 content")
    values = np.frombuffer(content, "<f4").reshape(dims)
    pruned = np.ascontiguousarray(values[..., list(channels)])
    shape_msg = b"".join(_field(2, _encode_varint(1 << 3 | _VARINT) + _encode_varint(size)) for size in pruned.shape)
    return bytes(kept) + _field(2, shape_msg) + _field(4, pruned.astype("<f4").tobytes())


def prune_classes(pb: bytes, pbtxt: str, keep: Sequence[int], classes: int = 91) -> tuple[bytes, str]:
    """The frozen graph and text graph with only the class ids ``keep`` (0, the background, first)."""
    if not keep or keep[0] != 0:
        raise GraphFormatError("the kept classes must start with the background, 0")
    predictors = {f"BoxPredictor_{i}/ClassPredictor/{what}" for i in range(6) for what in ("weights", "biases")}
    data = memoryview(pb)
    out = bytearray()
    done: set[str] = set()
    for number, wire, start, v0, v1 in _fields(data):
        node = data[v0:v1]
        name = _node_name(node) if number == 1 and wire == _BYTES else ""
        if name not in predictors:
            out += data[start:v1]
            continue
        t0, t1, tensor = _tensor_of(node)
        anchors_channels = _last_dim(tensor)
        if anchors_channels % classes:
            raise GraphFormatError(f"{name}: {anchors_channels} channels are not a multiple of {classes} classes")
        channels = [a * classes + c for a in range(anchors_channels // classes) for c in keep]
        new_tensor = _pruned_tensor(tensor, channels)
        # Re-wrap: tensor inside AttrValue (field 8) inside the map entry (field 2) inside the node (field 5).
        new_node = _rewrap(node, t0, t1, new_tensor)
        out += _field(1, new_node)
        done.add(name)
    missing = sorted(n for n in predictors if n not in done)
    if missing:
        raise GraphFormatError(f"class predictors not found in the graph: {', '.join(missing)}")
    text, count = re.subn(r'(key: "num_classes"\s*value\s*\{\s*i:\s*)' + str(classes), rf"\g<1>{len(keep)}", pbtxt)
    if count != 1:
        raise GraphFormatError("the text graph's num_classes was not found exactly once")
    return bytes(out), text


def _last_dim(tensor: memoryview) -> int:
    last = 0
    for number, wire, _s, v0, v1 in _fields(tensor):
        if number == 2 and wire == _BYTES:
            shape = tensor[v0:v1]
            for n, w, _s1, d0, d1 in _fields(shape):
                if n == 2 and w == _BYTES:
                    for m, mw, _s2, z0, _z1 in _fields(shape[d0:d1]):
                        if m == 1 and mw == _VARINT:
                            last = _varint(shape[d0:d1], z0)[0]
    return last


def _rewrap(node: memoryview, t0: int, t1: int, tensor: bytes) -> bytes:
    """The node with the tensor at [t0, t1) replaced, every enclosing length fixed."""
    out = bytearray()
    for number, wire, start, v0, v1 in _fields(node):
        if number == 5 and wire == _BYTES and v0 <= t0 and t1 <= v1:
            entry = node[v0:v1]
            new_entry = bytearray()
            for n, w, s, e0, e1 in _fields(entry):
                if n == 2 and w == _BYTES and v0 + e0 <= t0 and t1 <= v0 + e1:
                    attr = entry[e0:e1]
                    new_attr = bytearray()
                    for m, mw, s2, _a0, a1 in _fields(attr):
                        if m == 8 and mw == _BYTES:
                            new_attr += _field(8, tensor)
                        else:
                            new_attr += attr[s2:a1]
                    new_entry += _field(2, bytes(new_attr))
                else:
                    new_entry += entry[s:e1]
            out += _field(5, bytes(new_entry))
        else:
            out += node[start:v1]
    return bytes(out)
