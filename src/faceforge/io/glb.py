"""The GLB container (binary glTF 2.0): pack a JSON document and a binary buffer, read them back, decode accessors.

Layout (glTF 2.0 specification, "GLB File Format Specification"): a 12-byte header (uint32 little-endian magic
``glTF``, version 2, total length in bytes), then chunks of (uint32 length, uint32 type, data). The first chunk is
JSON (type ``JSON``) padded with spaces to a multiple of 4 bytes; an optional second chunk is the binary buffer
(type ``BIN\\0``) padded with zeros to a multiple of 4 bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import InputError
from faceforge.geometry import axis_angle_to_matrix

GLB_MAGIC = 0x46546C67  # b"glTF" little-endian
GLB_VERSION = 2
CHUNK_JSON = 0x4E4F534A  # b"JSON"
CHUNK_BIN = 0x004E4942  # b"BIN\0"

COMPONENT_DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
TYPE_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


@dataclass(frozen=True)
class GlbFile:
    """A GLB read back: the JSON document and the BIN chunk (b"" when there is none)."""

    document: dict
    binary: bytes


def pack_glb(document: dict, binary: bytes) -> bytes:
    """GLB bytes of a glTF JSON document and its one binary buffer (``buffers[0]``, b"" for none)."""
    js = json.dumps(document, separators=(",", ":"), allow_nan=False).encode("utf-8")
    js += b" " * ((-len(js)) % 4)
    binary += b"\0" * ((-len(binary)) % 4)
    total = 12 + 8 + len(js) + (8 + len(binary) if binary else 0)
    parts = [struct.pack("<III", GLB_MAGIC, GLB_VERSION, total), struct.pack("<II", len(js), CHUNK_JSON), js]
    if binary:
        parts += [struct.pack("<II", len(binary), CHUNK_BIN), binary]
    return b"".join(parts)


def read_glb(path: Path) -> GlbFile:
    """Read a GLB container (header, JSON chunk, optional BIN chunk) and check its framing.

    Raises:
        InputError: not a GLB, version other than 2, length or chunk sizes that do not match the file, chunks not
            4-byte aligned, invalid JSON.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_glb(data, str(path))


def parse_glb(data: bytes, source: str = "GLB") -> GlbFile:
    """``read_glb`` on bytes."""
    if len(data) < 20:
        raise InputError(f"{source}: too short for a GLB file ({len(data)} bytes)")
    magic, version, length = struct.unpack_from("<III", data, 0)
    if magic != GLB_MAGIC:
        raise InputError(f"{source}: not a GLB file (bad magic)")
    if version != GLB_VERSION:
        raise InputError(f"{source}: GLB version {version} is not supported (expected 2)")
    if length != len(data):
        raise InputError(f"{source}: header says {length} bytes, the file has {len(data)}")
    pos = 12
    chunks: list[tuple[int, bytes]] = []
    while pos < length:
        if pos + 8 > length:
            raise InputError(f"{source}: truncated chunk header at byte {pos}")
        clen, ctype = struct.unpack_from("<II", data, pos)
        if clen % 4:
            raise InputError(f"{source}: chunk at byte {pos} has length {clen}, not a multiple of 4")
        if pos + 8 + clen > length:
            raise InputError(f"{source}: chunk at byte {pos} runs past the end of the file")
        chunks.append((ctype, data[pos + 8: pos + 8 + clen]))
        pos += 8 + clen
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise InputError(f"{source}: the first chunk is not JSON")
    try:
        doc = json.loads(chunks[0][1].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: invalid JSON chunk ({exc})") from None
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == CHUNK_BIN else b""
    return GlbFile(document=doc, binary=binary)


def accessor_array(glb: GlbFile, index: int) -> np.ndarray:
    """Decode accessor ``index`` of a GLB's own buffer (non-sparse, tightly packed or strided).

    Returns:
        (count,) for SCALAR, (count, k) for VECk/MAT, in the accessor's component dtype.
    """
    doc = glb.document
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(COMPONENT_DTYPES[acc["componentType"]]).newbyteorder("<")
    k = TYPE_COMPONENTS[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride", dtype.itemsize * k)
    count = acc["count"]
    end = start + stride * (count - 1) + dtype.itemsize * k if count else start
    if end > view.get("byteOffset", 0) + view["byteLength"] or end > len(glb.binary):
        raise InputError(f"accessor {index} reads past its bufferView")
    raw = np.frombuffer(glb.binary, dtype=np.uint8, count=end - start, offset=start)
    if stride == dtype.itemsize * k:
        out = raw.view(dtype).reshape(count, k)
    else:
        out = np.lib.stride_tricks.as_strided(
            raw.view(dtype), shape=(count, k), strides=(stride, dtype.itemsize)
        ).copy()
    return (out[:, 0] if k == 1 else out).astype(dtype.newbyteorder("="))


def glb_node_matrix(node: dict) -> np.ndarray:
    """(4, 4) float64 local transform of a glTF node (``matrix`` or T * R * S)."""
    if "matrix" in node:
        return np.array(node["matrix"], dtype=np.float64).reshape(4, 4).T  # column-major in glTF
    m = np.eye(4)
    x, y, z, w = node.get("rotation", [0.0, 0.0, 0.0, 1.0])
    angle = 2 * np.arctan2(np.sqrt(x * x + y * y + z * z), w)
    n = np.sqrt(x * x + y * y + z * z)
    aa = torch.tensor([x, y, z], dtype=torch.float64) / n * angle if n > 0 else torch.zeros(3, dtype=torch.float64)
    m[:3, :3] = axis_angle_to_matrix(aa).numpy() @ np.diag(node.get("scale", [1.0, 1.0, 1.0]))
    m[:3, 3] = node.get("translation", [0.0, 0.0, 0.0])
    return m
