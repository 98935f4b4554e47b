"""How fresh a suggestion is, and whom to ask about it: the words every face shows with a match.

Each match says when its record was last checked ("vérifiée le 24/06/2026"), warns when that is older
than a threshold the caller gives (the service reads it from ``MAILLAGE_STALE_AFTER_DAYS``), and
names a contact when the resource has no page of its own: its ``contact``, else its provider's address.
Display only: nothing here changes what is ranked or how.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from matcher.schemas import Provider, Resource

__all__ = ["STALE_AFTER_DAYS", "Freshness", "contact_of", "freshness_of"]

STALE_AFTER_DAYS = 183
"""Default threshold: a record checked more than about six months ago is flagged."""


@dataclass(frozen=True)
class Freshness:
    """``verified`` is the French line shown with every match; ``warning`` is set when ``stale``."""

    last_verified: date | None
    verified: str
    stale: bool
    warning: str | None


def _age(days: int) -> str:
    """``183`` → ``"6 mois"``, ``45`` → ``"45 jours"``, ``800`` → ``"2 ans"``."""
    if days >= 730:
        return f"{days // 365} ans"
    if days >= 60:
        return f"{days // 30} mois"
    return f"{days} jours" if days > 1 else "1 jour"


def freshness_of(last_verified: date | None, today: date, stale_after_days: int = STALE_AFTER_DAYS) -> Freshness:
    """The freshness of a record checked on ``last_verified``, as of ``today``: stale when that is more
    than ``stale_after_days`` days before ``today``, or unknown."""
    if stale_after_days < 1:
        raise ValueError(f"stale_after_days must be an integer >= 1, got {stale_after_days!r}")
    if last_verified is None:
        return Freshness(None, "date de vérification inconnue", True,
                         "Date de vérification inconnue : informations à confirmer auprès du financeur avant "
                         "de déposer un dossier.")
    verified = f"vérifiée le {last_verified:%d/%m/%Y}"
    age = (today - last_verified).days
    if age <= stale_after_days:
        return Freshness(last_verified, verified, False, None)
    return Freshness(last_verified, verified, True,
                     f"Informations vérifiées il y a plus de {_age(stale_after_days)} : à confirmer auprès du "
                     "financeur avant de déposer un dossier.")


def contact_of(resource: Resource, provider: Provider | None) -> str | None:
    """Whom to ask: the resource's own ``contact``; without it and without a page of its own, the
    provider's address; otherwise None (the resource's ``url`` is the way in)."""
    if resource.contact:
        return resource.contact
    if resource.url is None and provider is not None:
        return provider.url
    return None
