"""The encoder interface, shared by :mod:`indexes.encoders` (which implements it) and
:mod:`indexes.cache` (which wraps any implementation), so that neither imports the other for it:
``encoders → cache → _base``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Encoder", "EncoderError"]


class EncoderError(RuntimeError):
    """A model spec that cannot be resolved or loaded; the message says what to do."""


@runtime_checkable
class Encoder(Protocol):
    """What indexes and the matcher need from a text encoder."""

    model_id: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim) float32``, L2-normalised rows."""
        ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """``(n, dim) float32``, L2-normalised rows."""
        ...
