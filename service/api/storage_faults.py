"""Storage faults as answers: a database that refuses writes (read-only, locked past its timeout,
unreachable) answers ``503 store_unavailable``, a full disk ``507 storage_full``, each with a French
message, instead of a 500 with a traceback. Reads and matches go on: they need no write.

The core raises what the driver raises (SQLAlchemy's ``OperationalError`` and kin, ``OSError``); only
the HTTP layer reads them here. A fault is logged once per incident: the first request that meets it
logs an error, the following ones only count, until the fault has not been seen for
:data:`QUIET_S` seconds (then the next one is a new incident, logged with how many were met).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

__all__ = ["FULL", "KEY_CHECK_UNAVAILABLE", "QUIET_S", "UNAVAILABLE", "UNREACHABLE", "Fault", "Incidents", "classify"]

log = logging.getLogger("maillage.api")

QUIET_S = 60.0
"""Seconds without the fault after which the next one is a new incident, logged again."""

UNAVAILABLE = ("Le catalogue n'accepte pas d'écriture pour le moment (base en lecture seule, verrouillée ou "
               "injoignable) : cette écriture n'a pas été enregistrée. Les recherches et les lectures "
               "continuent ; réessayez plus tard.")
KEY_CHECK_UNAVAILABLE = ("Le catalogue est injoignable pour le moment : la clé d'API ne peut pas être vérifiée. "
                         "Réessayez plus tard.")
FULL = ("Le disque du catalogue est plein : cette écriture n'a pas été enregistrée. Les recherches et les "
        "lectures continuent ; prévenez l'équipe d'exploitation.")


@dataclass(frozen=True)
class Fault:
    """How one storage fault is answered: ``status``, stable ``code``, French ``message``, and ``kind``
    (``read_only``, ``disk_full``, ``locked``, ``unreachable``), which names the incident in the log."""

    status: int
    code: str
    message: str
    kind: str


_FULL = Fault(507, "storage_full", FULL, "disk_full")
_READ_ONLY = Fault(503, "store_unavailable", UNAVAILABLE, "read_only")
_LOCKED = Fault(503, "store_unavailable", UNAVAILABLE, "locked")
_UNREACHABLE = Fault(503, "store_unavailable", UNAVAILABLE, "unreachable")
UNREACHABLE = _UNREACHABLE
"""The fault of a database error that says nothing more (the key check counts it as unreachable)."""

# SQLite's result codes (``sqlite_errorname``) and PostgreSQL's SQLSTATE (psycopg's ``sqlstate``).
_BY_CODE = {
    "SQLITE_FULL": _FULL, "53100": _FULL,  # PostgreSQL: disk_full
    "SQLITE_READONLY": _READ_ONLY, "25006": _READ_ONLY,  # read_only_sql_transaction
    "SQLITE_BUSY": _LOCKED, "SQLITE_LOCKED": _LOCKED,
    "55P03": _LOCKED, "57014": _LOCKED,  # lock_not_available, query_canceled (a statement timeout)
    "SQLITE_CANTOPEN": _UNREACHABLE, "57P01": _UNREACHABLE, "57P03": _UNREACHABLE,  # shut down, starting
}
# The same faults read off the message, when the driver gives no code (or a test raises it bare).
_BY_TEXT = (
    ("database or disk is full", _FULL), ("no space left on device", _FULL), ("disk full", _FULL),
    ("readonly database", _READ_ONLY), ("read-only", _READ_ONLY),
    ("database is locked", _LOCKED), ("database table is locked", _LOCKED),
    ("connection refused", _UNREACHABLE), ("could not connect", _UNREACHABLE),
    ("connection failed", _UNREACHABLE), ("server closed the connection", _UNREACHABLE),
    ("unable to open database file", _UNREACHABLE),
)
_BY_ERRNO = {errno.ENOSPC: _FULL, errno.EDQUOT: _FULL, errno.EROFS: _READ_ONLY}


def classify(exc: BaseException) -> Fault | None:
    """The storage fault ``exc`` is, or ``None`` when it is no storage fault (a bug: a 500)."""
    if isinstance(exc, OSError):
        return _BY_ERRNO.get(exc.errno or 0)
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    code = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
    if code in _BY_CODE:
        return _BY_CODE[code]
    if isinstance(code, str) and code.startswith("08"):  # PostgreSQL's connection exceptions
        return _UNREACHABLE
    text = str(orig).lower()
    for needle, fault in _BY_TEXT:
        if needle in text:
            return fault
    if isinstance(orig, OSError):
        return _BY_ERRNO.get(orig.errno or 0)
    return None


class Incidents:
    """Which storage faults are under way, so each is logged once (see the module docstring)."""

    def __init__(self, quiet_s: float = QUIET_S) -> None:
        self.quiet_s = quiet_s
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def met(self, fault: Fault, exc: BaseException, where: str, now: float | None = None) -> bool:
        """Record one request that met ``fault``; logs (and returns ``True``) when it starts an incident."""
        now = time.monotonic() if now is None else now
        with self._lock:
            last = self._last.get(fault.kind)
            self._last[fault.kind] = now
            new = last is None or now - last > self.quiet_s
            before = self._count.get(fault.kind, 0)
            self._count[fault.kind] = 1 if new else before + 1
        if new:
            earlier = f" (the previous incident met {before} requests)" if before else ""
            log.error("storage fault %s on %s: %s: writes answer %d %s until it is fixed; logged once per "
                      "incident%s", fault.kind, where, _one_line(exc), fault.status, fault.code, earlier)
        return new

    def count(self, kind: str) -> int:
        """Requests that met the current (or last) incident of ``kind``."""
        with self._lock:
            return self._count.get(kind, 0)


def _one_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement and parameters (which may hold personal data)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    return f"{type(orig if orig is not None else exc).__name__}: {text.splitlines()[0] if text else ''}"
