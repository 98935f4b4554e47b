"""The whole Code officiel géographique as shipped: every commune resolves, arrondissements and former
communes map to their commune, and search matches a linear scan (the oracle) over the same data."""

import gzip
import json
import random
from collections import Counter
from functools import cache
from importlib.resources import files

import pytest

from matcher import _territory_data as ref
from matcher import territory as t
from matcher.territory import Level, TerritoryError


@cache
def _shipped() -> dict:
    raw = files("matcher").joinpath("data", "territory", "communes.json.gz").read_bytes()
    return json.loads(gzip.decompress(raw))


def _rows() -> list[dict]:
    cog = _shipped()
    return [dict(zip(cog["columns"], row, strict=True)) for row in cog["communes"]]


def test_the_file_is_the_pinned_package():
    source = _shipped()["source"]
    assert source == {"package": "@etalab/decoupage-administratif", "version": "6.0.0", "licence": "MIT",
                      "tarball_sha256": "c189ffd5b33fe40c2f19e1a923ce557f190622f39228745d3195d746dfe00c4a"}


def test_every_current_commune_of_the_101_departements_is_shipped():
    rows = _rows()
    # 34,969 communes actuelles in 6.0.0, less the 94 of the collectivités d'outre-mer.
    assert len(rows) == 34_875 == len({r["code"] for r in rows})
    assert {r["departement"] for r in rows} == {d.code for d in t.all_departements()}
    assert sum(r["urban"] for r in rows) == sum(r["population"] >= 3500 for r in rows) > 3000
    assert sum(1 for r in rows if r["epci"] is None) == 4  # Bréhat, Sein, Ouessant, L'Île-d'Yeu
    assert all(r["postcodes"] for r in rows)
    # The six "villages morts pour la France" of the Meuse, destroyed in 1916, have no inhabitant.
    assert sorted(r["code"] for r in rows if r["population"] == 0) == [
        "55039", "55050", "55139", "55189", "55239", "55307"]


def test_every_commune_resolves_by_code_name_and_postcode():
    by_postcode = Counter(p for r in _rows() for p in r["postcodes"])
    elsewhere = []
    for r in _rows():
        code, dep = r["code"], r["departement"]
        parsed = t.parse_territory(code)
        assert (parsed.code, parsed.level, parsed.name, parsed.departement) == (code, Level.commune, r["name"], dep)
        assert parsed.region == t.region_of(dep) and parsed.postcodes == tuple(r["postcodes"])
        assert parsed.postcode == r["postcodes"][0] and parsed.population == r["population"]
        if t.postcode_to_departement(parsed.postcode) != dep:
            elsewhere.append(code)
        assert code in [c.code for c in t.communes_named(r["name"], dep)], r
        found = t.search_communes(parsed.postcode, limit=by_postcode[parsed.postcode])
        assert code in [c.code for c in found], r
    # A few communes are served by a post office of the next département (03250 Saint-Pierre-Laval: 42620).
    assert "03250" in elsewhere and len(elsewhere) < 100


def test_arrondissements_municipaux_are_inside_their_commune():
    cog = _shipped()
    counts = Counter(a[2] for a in cog["arrondissements"])
    assert counts == {"75056": 20, "69123": 9, "13055": 16}
    eleventh = t.parse_territory("75111")
    assert (eleventh.name, eleventh.parent_commune, eleventh.postcode) == ("Paris 11e Arrondissement", "75056", "75011")
    assert eleventh.ancestors == ("75111", "75056", "75", "R11", "FR")
    assert t.parse_territory("69381").ancestors == ("69381", "69123", "69", "R84", "FR")
    assert t.parse_territory("13201").parent_commune == "13055"
    assert t.covers(["75056"], "75111") and t.covers(["75"], "75111") and t.covers(["75111"], "75111")
    assert not t.covers(["75111"], "75056") and not t.covers(["75112"], "75111")
    assert t.territory_distance("75111", "75056") == t.territory_distance("75111", "75112") == 0
    assert t.territory_distance("75111", "75") == 1 and t.territory_distance("75111", "92012") == 2
    assert t.parse_territory("75111").epci == t.parse_territory("75056").epci
    assert t.epci_name(t.parse_territory("75056").epci) == "Métropole du Grand Paris"


@pytest.mark.parametrize(
    ("former", "current", "words"),
    [
        ("01120", "01262", ["Cordieux (01120) : commune associée", "Montluel (01262)"]),
        ("01340", "01015", ["Saint-Bois (01340) : commune déléguée", "Arboys en Bugey (01015)"]),
        # The package keeps the present attachment of these two, not its stale list of former codes.
        ("60455", "60694", ["La Neuville-Garnier", "Les Hauts-Talican (60694)"]),
        ("55273", "55386", ["Lamarche-en-Woëvre", "Nonsard-Lamarche (55386)"]),
    ],
)
def test_a_former_commune_maps_to_the_current_one_with_a_note(former, current, words):
    parsed = t.parse_territory(former)
    assert parsed.code == current and parsed.level is Level.commune
    assert all(w in parsed.note for w in words), parsed.note
    assert t.parse_territory(current).note is None
    assert t.covers([current], former) and t.territory_distance(former, current) == 0


def test_every_former_code_maps_to_a_current_commune():
    former = _shipped()["former"]
    # 4,240 former codes in 6.0.0, less the 366 of Corsica before 1976 (département 20, refused).
    assert len(former) == 3874 and not any(f[0].startswith("20") for f in former)
    assert Counter(f[3] for f in former) == {"ancienne commune": 1882, "commune déléguée": 1521,
                                             "commune associée": 471}
    for code, name, current, _ in former:
        parsed = t.parse_territory(code)
        assert parsed.code == current and code in parsed.note and (name is None or name in parsed.note)


def test_homonyms_come_with_their_departement():
    found = t.communes_named("Sainte-Marie")
    assert len(found) >= 8 and len({c.departement for c in found}) == len(found)
    populations = [c.population for c in found]
    assert populations == sorted(populations, reverse=True)
    assert [c.code for c in t.communes_named("sainte marie", "974")] == ["97418"]
    assert [c.code for c in t.communes_named("ste marie", "972")] == ["97228"]
    hits = t.search_communes("saint martin", limit=20)
    assert len({c.departement for c in hits}) > 10


def test_communes_named_ignores_case_accents_hyphens_and_abbreviations():
    for spelling in ("Saint-Étienne", "saint etienne", "ST ETIENNE", "St-Étienne", "st. étienne"):
        assert t.communes_named(spelling)[0].code == "42218", spelling
    assert [c.code for c in t.communes_named("l'hay les roses")] == ["94038"]
    assert t.communes_named("Saint-Denis", "93")[0].code == "93066"
    assert t.communes_named("Saint-Denis", "2b") == []
    assert t.communes_named("Nowhere") == [] and t.communes_named("") == []
    with pytest.raises(TerritoryError, match="« 99 »"):
        t.communes_named("Paris", "99")
    with pytest.raises(TerritoryError, match="un code de département est attendu pour departement, reçu « 75056 »"):
        t.communes_named("Paris", "75056")


def test_commune_population():
    assert t.commune_population("75056") > 2_000_000
    assert t.commune_population(" 75111 ") == t.parse_territory("75111").population
    assert t.commune_population("01340") is None  # a former commune: its own population is not known
    assert t.commune_population("93999") is None and t.commune_population("x") is None
    assert t.commune_population(93066) is None  # type: ignore[arg-type]


def test_abbreviation_is_not_expanded_while_it_is_typed():
    assert "67482" in [c.code for c in t.search_communes("st")]  # Strasbourg
    assert t.search_communes("st etienne")[0].code == "42218"
    assert t.search_communes("ste foy")[0].name.startswith("Sainte-Foy")


def _linear(query: str, limit: int) -> list[str]:
    """The oracle: scan every commune, sort by the documented order."""
    communes = ref.data().communes
    if query.isdigit():
        hits = [c for c in communes.values() if any(p.startswith(query) for p in c.postcodes)]
        key = lambda c: (-c.population, ref.fold(c.name), c.code)  # noqa: E731
    else:
        q = ref.expand(ref.fold(query), last=False)
        hits = [c for c in communes.values() if ref.fold(c.name).startswith(q)]
        key = lambda c: (ref.fold(c.name) != q, -c.population, ref.fold(c.name), c.code)  # noqa: E731
    return [c.code for c in sorted(hits, key=key)[:limit]]


def test_search_matches_a_linear_scan():
    rng = random.Random(15)
    names = [c.name for c in ref.data().communes.values()]
    queries = ["saint", "sainte m", "la", "le ", "paris", "lyon", "marseille", "aix", "bourg", "97", "2", "13",
               "751", "01400", "69001", "y", "zu", "st mar"]
    queries += [rng.choice(names)[: rng.randint(1, 9)] for _ in range(40)]
    for q in queries:
        for limit in (1, 8, 20):
            assert [c.code for c in t.search_communes(q, limit)] == _linear(q, limit), (q, limit)
