"""Retrieval layer: encoders, the dense FAISS index and versioned snapshots. Imports nothing of ours."""

from indexes.dense import DenseIndex, IndexFileError
from indexes.encoders import (
    DEFAULT_MODEL,
    Encoder,
    EncoderError,
    HashingEncoder,
    SentenceTransformerEncoder,
    load_encoder,
)
from indexes.sparse import FrenchAnalyzer, SparseIndex, SparseIndexFileError
from indexes.snapshot import FORMAT_VERSION, Manifest, SnapshotError, current, publish, verify

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT_VERSION",
    "FrenchAnalyzer",
    "DenseIndex",
    "Encoder",
    "EncoderError",
    "HashingEncoder",
    "IndexFileError",
    "Manifest",
    "SentenceTransformerEncoder",
    "SnapshotError",
    "SparseIndex",
    "SparseIndexFileError",
    "current",
    "load_encoder",
    "publish",
    "verify",
]
