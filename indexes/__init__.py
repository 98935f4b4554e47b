"""Retrieval layer: encoders, the dense FAISS index and versioned snapshots. Imports nothing of ours."""

from indexes.dense import DenseIndex, IndexFileError
from indexes.encoders import (
    DEFAULT_MODEL,
    Encoder,
    EncoderError,
    HashingEncoder,
    SentenceTransformerEncoder,
    encode_in_batches,
    load_encoder,
)
from indexes.snapshot import FORMAT_VERSION, Manifest, SnapshotError, current, prune, publish, set_current, verify
from indexes.sparse import FrenchAnalyzer, SparseIndex, SparseIndexFileError

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "DenseIndex",
    "Encoder",
    "EncoderError",
    "FrenchAnalyzer",
    "HashingEncoder",
    "IndexFileError",
    "Manifest",
    "SentenceTransformerEncoder",
    "SnapshotError",
    "SparseIndex",
    "SparseIndexFileError",
    "current",
    "encode_in_batches",
    "load_encoder",
    "prune",
    "publish",
    "set_current",
    "verify",
]
