"""EIG défis: free-text host administrations → a coarse ministry, the candidates of ``eig-defis``.

The labels are free text (88 spellings for 100 défis). They are mapped by the ordered keyword rules
of :data:`EIG_MINISTRIES` (first match wins; e.g. "Direction générale de la gendarmerie nationale
(DGGN)" → ``interieur``, "Shom" → ``armees``, "DREES" → ``affaires-sociales``); an unmatched label
goes to ``autre``.
"""

from __future__ import annotations

from matcher.importers.datasets import slug
from matcher.schemas import Need, Provider, ProviderKind, Recurrence, Resource, ResourceKind

__all__ = ["EIG_MINISTRIES", "EIG_OTHER", "eig_candidates", "eig_ministry"]

# (key, name, keywords matched on the folded lower-case label, in order; first rule that matches wins).
# Order matters: specific bodies before the broad words they contain ("DREES … recherche" is social
# affairs, "Agence du numérique de la sécurité civile" is the interior, not the digital directorate).
EIG_MINISTRIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("armees", "Ministère des Armées",
     ("armees", "defense", "shom", "hydrographique et oceanographique de la marine")),
    ("interieur", "Ministère de l'Intérieur",
     ("interieur", "gendarmerie", "securite civile", "sapeurs-pompiers", "prefecture", "police",
      "collectivites locales", "refugies", "antai")),
    ("justice", "Ministère de la Justice", ("justice", "cour de cassation", "penitentiaire")),
    ("affaires-sociales", "Ministères sociaux (santé, solidarités, travail)",
     ("sante", "solidarites", "medicament", "assurance maladie", "securite sociale", "urssaf",
      "affaires sociales", "ministeres sociaux", "drees", "evaluation et des statistiques", "travail",
      "offre de soins")),
    ("economie-finances", "Ministère de l'Économie et des Finances",
     ("economie", "finances", "comptes publics", "direction du budget", "dgfip", "dgccrf", "concurrence",
      "statistique et des etudes economiques", "insee", "ministeres economiques", "douane")),
    ("agriculture", "Ministère de l'Agriculture et de l'Alimentation", ("agriculture", "alimentation")),
    ("ecologie", "Ministère de la Transition écologique et de la Mer",
     ("transition ecologique", "developpement durable", "cgdd", "environnement", "ademe",
      "information geographique", "cerema", "affaires maritimes", "ministere de la mer", "peches",
      "hydrometeorologie", "inondations", "energie")),
    ("cohesion-territoires", "Ministère de la Cohésion des territoires et du Logement",
     ("logement", "hebergement", "egalite des territoires", "cohesion des territoires")),
    ("culture", "Ministère de la Culture",
     ("culture", "bibliotheque nationale", "mobilier national", "archivage", "archives", "patrimoine")),
    ("education", "Ministère de l'Éducation nationale et de la Jeunesse",
     ("education nationale", "academie", "numerique pour l'education", "jeunesse")),
    ("enseignement-recherche", "Ministère de l'Enseignement supérieur et de la Recherche",
     ("enseignement superieur", "recherche", "museum", "universite")),
    ("premier-ministre", "Services du Premier ministre (numérique, transformation publique)",
     ("premier ministre", "interministerielle du numerique", "dinum", "etalab",
      "transformation publique", "information legale")),
    ("affaires-etrangeres", "Ministère de l'Europe et des Affaires étrangères",
     ("affaires etrangeres", "agence francaise de developpement")),
    ("autorites-independantes", "Juridictions financières et autorités indépendantes",
     ("cour des comptes", "autorite de", "haute autorite")),
)
EIG_OTHER = ("autre", "Autre administration")


def _fold(text: str) -> str:
    return slug(text.replace("’", "'"), limit=1000).replace("-", " ").replace("'", " ")


def eig_ministry(label: str) -> str:
    """Ministry key of a free-text EIG host administration (``"autre"`` when no rule matches)."""
    text = f" {_fold(label)} "
    for key, _name, words in EIG_MINISTRIES:
        if any(f" {_fold(w)} " in text for w in words):  # whole words only
            return key
    return EIG_OTHER[0]


def eig_candidates() -> tuple[list[Provider], list[Resource]]:
    providers, resources = [], []
    for key, name in [(k, n) for k, n, _ in EIG_MINISTRIES] + [EIG_OTHER]:
        pid = f"eig-min-{key}"
        kind = ProviderKind.ministere if key != "autre" else ProviderKind.autre
        providers.append(Provider(id=pid, name=name, kind=kind, source="eig-defis"))
        resources.append(Resource(
            id=pid, kind=ResourceKind.besoin_service_public, provider_id=pid,
            title=f"Défis d'intérêt général — {name}",
            description=f"Administration hôte de défis Entrepreneurs d'intérêt général : {name}, "
                        "ses directions, services déconcentrés et opérateurs.",
            needs_covered=[Need.partenariat_public, Need.donnees, Need.expertise], recurrence=Recurrence.annuel,
            source="eig-defis",
        ))
    return providers, resources
