"""A project that names a resource's organisation points at it, whatever the history says."""

from __future__ import annotations

from matcher.names import NameMatcher
from matcher.schemas import Provider, Resource


def _resource(rid: str, title: str, provider: str) -> Resource:
    return Resource(id=rid, kind="besoin_service_public", provider_id=provider, title=title, recurrence="permanent")


def _matcher() -> NameMatcher:
    providers = {p.id: p for p in (
        Provider(id="ddd", name="Défenseur des droits"),
        Provider(id="csm", name="Conseil supérieur de la magistrature"),
        Provider(id="sports", name="Ministère des Sports"),
    )}
    resources = {r.id: r for r in (
        _resource("r-ddd", "Besoins de service public — Défenseur des droits", "ddd"),
        _resource("r-csm", "Besoins de service public — Conseil supérieur de la magistrature", "csm"),
        _resource("r-sports", "Besoins de service public — Ministère des Sports", "sports"),
    )}
    return NameMatcher(resources, providers)


def test_the_named_organisation_scores_highest_and_boilerplate_counts_for_nothing() -> None:
    m = _matcher()
    ids = ["r-ddd", "r-csm", "r-sports", "inconnue"]
    text = "Faciliter la saisine du Défenseur des droits par les usagers"
    scores = m.scores(text, ids)
    assert scores[0] > 0.9 and scores[1] == 0.0 and scores[2] == 0.0 and scores[3] == 0.0
    # Words every name shares ("besoins de service public") say nothing about which one is meant.
    assert max(m.scores("Un besoin de service public", ids)) < 0.05
    # Accents and case do not matter; a partial mention gets a partial score.
    assert m.scores("le CONSEIL SUPERIEUR de la MAGISTRATURE", ["r-csm"])[0] > 0.9
    partial = m.scores("un conseil de quartier", ["r-csm"])[0]
    assert 0.0 < partial < 0.5
    assert m.scores("", ids).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_a_matcher_rebuilt_after_a_write_equals_one_built_afresh() -> None:
    before = _matcher()
    providers = {p.id: p for p in (
        Provider(id="ddd", name="Défenseur des droits"),
        Provider(id="csm", name="Conseil supérieur de la magistrature"),
        Provider(id="sports", name="Ministère des Sports et des Jeux olympiques"),  # renamed
    )}
    resources = {r.id: r for r in (
        _resource("r-ddd", "Besoins de service public — Défenseur des droits", "ddd"),
        _resource("r-csm", "Besoins de service public — Conseil supérieur de la magistrature", "csm"),
        _resource("r-sports", "Besoins de service public — Ministère des Sports", "sports"),
        _resource("r-new", "Besoins de service public — Cour des comptes", "ddd"),  # added
    )}
    reused = NameMatcher(resources, providers, previous=before)
    fresh = NameMatcher(resources, providers)
    assert reused.terms_ == fresh.terms_ and reused.weights_ == fresh.weights_
    ids = list(resources)
    for text in ("les jeux olympiques", "la Cour des comptes", "le Défenseur des droits"):
        assert reused.scores(text, ids).tolist() == fresh.scores(text, ids).tolist()
