"""Model versions and the promotion gate.

Each trained ranker is a versioned folder under ``$MAILLAGE_HOME/models/rankers`` with a
``manifest.json`` (encoder, feature schema, training figures) published atomically; registering
does not serve it. ``promote`` points ``CURRENT`` at a version only if it beat the model being
served on the same validation split; otherwise it refuses and says by how much it lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from indexes import Manifest, SnapshotError, current, publish, set_current, verify
from matcher.calibration import Calibration, load_calibration
from matcher.features import FEATURE_VERSION, FEATURES
from matcher.ranker import LearnedRanker, PriorRanker, load_ranker

__all__ = ["ModelRegistry", "PromotionRefused"]

_KIND = "ranker"


class PromotionRefused(RuntimeError):
    """The candidate does not beat the model being served (message gives both figures)."""


@dataclass(frozen=True)
class ModelRegistry:
    root: Path

    def register(
        self,
        ranker: PriorRanker | LearnedRanker,
        *,
        encoder_id: str,
        dim: int,
        pairs: int,
        catalogue_hash: str,
        metrics: dict[str, float],
        compared_to: str | None,
        info: dict[str, Any] | None = None,
        calibration: Calibration | None = None,
    ) -> str:
        """Store ``ranker`` as a new version (not served). ``metrics`` must hold ``validation_ndcg10``
        and, when a model is being served, ``current_validation_ndcg10`` measured on the same split."""
        if "validation_ndcg10" not in metrics:
            raise ValueError("metrics must include validation_ndcg10")
        version = datetime.now(UTC).strftime("r%Y%m%dT%H%M%S%fZ")
        manifest = Manifest(
            version=version, kind=_KIND, encoder_id=encoder_id, dim=dim, count=pairs,
            catalogue_hash=catalogue_hash,
            extra={"ranker_kind": ranker.kind, "features": list(FEATURES), "feature_version": FEATURE_VERSION,
                   "metrics": metrics, "compared_to": compared_to, **(info or {})},
        )
        def save(folder: Path) -> list[Path]:
            return ranker.save(folder) + ([calibration.save(folder)] if calibration is not None else [])

        publish(self.root, save, manifest, make_current=False)
        return version

    def load_calibration(self, version: str, *, encoder_id: str) -> Calibration | None:
        """The calibration stored with ``version`` (None when it has none); raises
        :class:`matcher.calibration.CalibrationError` for one that cannot be used."""
        return load_calibration(self.root / version, encoder=encoder_id)

    def versions(self) -> list[Manifest]:
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and not folder.name.startswith(".") and (folder / "manifest.json").is_file():
                out.append(Manifest.read(folder))
        return out

    def current_version(self) -> str | None:
        folder = current(self.root)
        return folder.name if folder is not None else None

    def load(self, version: str, *, encoder_id: str, dim: int) -> PriorRanker | LearnedRanker:
        folder = self.root / version
        if not folder.is_dir():
            raise SnapshotError(f"unknown model version {version!r} under {self.root}")
        manifest = verify(folder)
        manifest.check(kind=_KIND, encoder_id=encoder_id, dim=dim)
        return load_ranker(folder)

    def load_current(self, *, encoder_id: str, dim: int) -> tuple[str, PriorRanker | LearnedRanker] | None:
        version = self.current_version()
        if version is None:
            return None
        return version, self.load(version, encoder_id=encoder_id, dim=dim)

    def promote(self, version: str, *, force: bool = False) -> Manifest:
        """Serve ``version`` if it beat the served model on the validation split it was trained with."""
        folder = self.root / version
        if not folder.is_dir():
            raise SnapshotError(f"unknown model version {version!r} under {self.root}")
        manifest = verify(folder)
        served = self.current_version()
        metrics = manifest.extra.get("metrics", {})
        if not force and served is not None and served != version:
            if manifest.extra.get("compared_to") != served:
                raise PromotionRefused(
                    f"model {version} was compared with {manifest.extra.get('compared_to')!r}, but "
                    f"{served} is served now: a model must be trained against the served one to be compared"
                )
            new, old = metrics.get("validation_ndcg10", 0.0), metrics.get("current_validation_ndcg10", 0.0)
            if new <= old:
                raise PromotionRefused(
                    f"model {version} does not beat the served model {served} on the validation split: "
                    f"nDCG@10 {new:.4f} vs {old:.4f}"
                )
        set_current(self.root, version)
        return manifest
