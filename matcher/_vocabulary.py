"""The closed vocabularies of the domain: kinds of structure, stages, needs, kinds of resource and
of provider, recurrence, eligibility criteria and their statuses, decisions. Imported from
:mod:`matcher.schemas`."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CheckStatus",
    "Criterion",
    "CumulationScope",
    "Decision",
    "LegalForm",
    "Need",
    "ProviderKind",
    "Recurrence",
    "ResourceKind",
    "Stage",
]


class LegalForm(StrEnum):
    """Kind of structure carrying an initiative (or allowed by a resource)."""

    collectif = "collectif"
    association = "association"
    entreprise_ess = "entreprise_ess"
    entreprise = "entreprise"
    collectivite = "collectivite"
    etablissement_public = "etablissement_public"
    administration = "administration"


class Stage(StrEnum):
    """Maturity of an initiative, in order."""

    idee = "idee"
    prototype = "prototype"
    experimentation = "experimentation"
    deploiement = "deploiement"
    changement_echelle = "changement_echelle"

    @property
    def order(self) -> int:
        return list(Stage).index(self)


class Need(StrEnum):
    """What an initiative is looking for (and what a resource offers)."""

    financement = "financement"
    accompagnement = "accompagnement"
    partenariat_public = "partenariat_public"
    donnees = "donnees"
    expertise = "expertise"
    lieu = "lieu"
    visibilite = "visibilite"


class ResourceKind(StrEnum):
    """Kind of state resource (aides-territoires' "types d'aide", widened to non-financial help)."""

    financement = "financement"
    appel_a_projets = "appel_a_projets"
    besoin_service_public = "besoin_service_public"
    accompagnement = "accompagnement"
    donnees = "donnees"
    expertise = "expertise"
    lieu = "lieu"


class ProviderKind(StrEnum):
    """Kind of body offering resources ("financeur" / "porteur d'aide")."""

    ministere = "ministere"
    service_deconcentre = "service_deconcentre"
    agence = "agence"
    operateur = "operateur"
    region = "region"
    departement = "departement"
    intercommunalite = "intercommunalite"
    commune = "commune"
    securite_sociale = "securite_sociale"
    incubateur = "incubateur"
    fondation = "fondation"
    autre = "autre"


class Recurrence(StrEnum):
    """How a resource reopens: once, every year, or open all year round."""

    ponctuel = "ponctuel"
    annuel = "annuel"
    permanent = "permanent"


class Criterion(StrEnum):
    """One eligibility criterion, checked separately so explanations can name it."""

    territory = "territory"
    legal_form = "legal_form"
    stage = "stage"
    amount = "amount"
    dates = "dates"
    capacity = "capacity"
    needs = "needs"
    # The source catalogue's own eligibility conditions, kept in its words: never decided by Maillage,
    # always shown to staff as a clause to check.
    conditions = "conditions"


class CheckStatus(StrEnum):
    passed = "passed"
    failed = "failed"
    unknown = "unknown"


class Decision(StrEnum):
    """A staff or partner decision on a match; the labels training learns from."""

    shortlisted = "shortlisted"
    contacted = "contacted"
    applied = "applied"
    obtained = "obtained"
    refused = "refused"
    dismissed = "dismissed"
    pinned = "pinned"
    excluded = "excluded"


class CumulationScope(StrEnum):
    """A general non-cumulation rule a source states for a resource, beyond the resources it names.

    Both are read on the same expenses: a plan never puts the resource beside another funding of that
    scope (:mod:`matcher.plan`)."""

    aide_regionale = "aide_regionale"
    """Not cumulable with another regional aid (a funding whose provider is a région)."""
    aide_publique = "aide_publique"
    """Not cumulable with any other public aid (any other funding)."""
