"""French labels for what staff and citizens read (enum values stay ASCII slugs in data and APIs)."""

from __future__ import annotations

from datetime import date

from matcher.schemas import Decision, LegalForm, Need, ResourceKind, Stage

__all__ = ["DECISION", "KIND", "LEGAL_FORM", "NEED", "STAGE", "french_date", "join_fr"]

LEGAL_FORM = {
    LegalForm.collectif: "collectif citoyen",
    LegalForm.association: "association",
    LegalForm.entreprise_ess: "entreprise de l'ESS",
    LegalForm.entreprise: "entreprise",
    LegalForm.collectivite: "collectivité",
    LegalForm.etablissement_public: "établissement public",
    LegalForm.administration: "administration",
}
STAGE = {
    Stage.idee: "idée",
    Stage.prototype: "prototype",
    Stage.experimentation: "expérimentation",
    Stage.deploiement: "déploiement",
    Stage.changement_echelle: "changement d'échelle",
}
KIND = {
    ResourceKind.financement: "financement",
    ResourceKind.appel_a_projets: "appel à projets",
    ResourceKind.besoin_service_public: "besoin de service public",
    ResourceKind.accompagnement: "accompagnement",
    ResourceKind.donnees: "données",
    ResourceKind.expertise: "expertise",
    ResourceKind.lieu: "lieu",
}
NEED = {
    Need.financement: "financement",
    Need.accompagnement: "accompagnement",
    Need.partenariat_public: "partenariat public",
    Need.donnees: "données",
    Need.expertise: "expertise",
    Need.lieu: "lieu",
    Need.visibilite: "visibilité",
}
DECISION = {
    Decision.shortlisted: "présélectionné",
    Decision.contacted: "contacté",
    Decision.applied: "candidature déposée",
    Decision.obtained: "obtenu",
    Decision.refused: "refusé",
    Decision.dismissed: "écarté",
    Decision.pinned: "épinglé",
    Decision.excluded: "exclu",
}
_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)


def french_date(day: date) -> str:
    """``date(2027, 3, 1)`` → ``"1er mars 2027"``."""
    d = "1er" if day.day == 1 else str(day.day)
    return f"{d} {_MONTHS[day.month - 1]} {day.year}"


def join_fr(items: list[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b et c"``."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " et " + items[-1]
