"""The packaged calibration of the prior is used on the demo catalogue it was fitted on, never elsewhere."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from matcher.calibration import Calibration
from matcher.schemas import Resource, ResourceKind
from service import startup as engine


def _index(*sources: str) -> SimpleNamespace:
    resources = {f"r{i}": Resource(id=f"r{i}", kind=ResourceKind.financement, provider_id="p", title="Une aide",
                                   source=source) for i, source in enumerate(sources)}
    return SimpleNamespace(resources=resources)


def test_the_packaged_calibration_serves_the_demo_catalogue_only(monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = Calibration((1.0, -0.5, 1.0), -3.0, 0.2, "enc", "judged dev", 10, 2)
    monkeypatch.setattr(engine, "packaged_prior_calibration", lambda encoder_id: packaged)
    encoder = SimpleNamespace(model_id="enc")
    assert engine._prior_calibration(_index("demo", "demo"), encoder) is packaged  # type: ignore[arg-type]
    assert engine._prior_calibration(_index("demo", "aides-territoires"), encoder) is None  # type: ignore[arg-type]
    assert engine._prior_calibration(_index(), encoder) is None  # type: ignore[arg-type]
