import dataclasses
from collections import Counter

import pytest

from matcher import territory as t
from matcher.territory import Level, TerritoryError

# --- hierarchy ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("code", "ancestors"),
    [
        ("93066", ("93066", "93", "R11", "FR")),
        ("2A004", ("2A004", "2A", "R94", "FR")),
        ("2B033", ("2B033", "2B", "R94", "FR")),
        ("97411", ("97411", "974", "R04", "FR")),
        ("97611", ("97611", "976", "R06", "FR")),
        ("97302", ("97302", "973", "R03", "FR")),
        ("75056", ("75056", "75", "R11", "FR")),
        ("93", ("93", "R11", "FR")),
        ("971", ("971", "R01", "FR")),
        ("R11", ("R11", "FR")),
        ("FR", ("FR",)),
    ],
)
def test_ancestors(code, ancestors):
    assert t.parse_territory(code).ancestors == ancestors


def test_levels_and_names():
    saint_denis = t.parse_territory("93066")
    assert saint_denis.level is Level.commune
    assert saint_denis.name == "Saint-Denis"
    assert (saint_denis.departement, saint_denis.region) == ("93", "R11")
    assert t.parse_territory("93").level is Level.departement
    assert t.parse_territory("93").name == "Seine-Saint-Denis"
    assert t.parse_territory("R93").name == "Provence-Alpes-Côte d'Azur"
    assert t.parse_territory("R11").level is Level.region
    assert t.parse_territory("FR").level is Level.national
    assert t.parse_territory("97611").name == "Mamoudzou"
    assert t.parse_territory("13055").name == "Marseille"


def test_parse_normalises_input():
    assert t.parse_territory(" 2a004 ").code == "2A004"
    assert t.parse_territory("2b").code == "2B"
    assert t.parse_territory("r11").code == "R11"
    assert t.parse_territory("fr").code == "FR"
    assert t.parse_territory("\t93\n").code == "93"


def test_parse_is_cached_and_frozen():
    a = t.parse_territory("93066")
    assert t.parse_territory("93066") is a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.code = "75056"  # type: ignore[misc]
    assert {a, t.parse_territory("93066")} == {a}


@pytest.mark.parametrize(("code", "where"), [("93999", "Seine-Saint-Denis (93)"), ("2B999", "Haute-Corse (2B)"),
                                            ("97499", "La Réunion (974)"), ("75121", "Paris (75)")])
def test_unknown_commune_code_is_refused_naming_it(code, where):
    # The commune list is the whole COG: a well-formed code that no commune has is an error, not a miss.
    with pytest.raises(TerritoryError, match=f"code commune inconnu « {code} » : ") as err:
        t.parse_territory(code)
    assert where in str(err.value)


def test_departement_and_region_of():
    assert t.departement_of("93066") == "93"
    assert t.departement_of("2A004") == "2A"
    assert t.departement_of("974") == "974"
    assert t.departement_of("R11") is None
    assert t.departement_of("FR") is None
    assert t.region_of("93066") == "R11"
    assert t.region_of("976") == "R06"
    assert t.region_of("R94") == "R94"
    assert t.region_of("FR") is None


# --- reference data -----------------------------------------------------------------------------

def test_counts():
    deps = t.all_departements()
    regions = t.all_regions()
    assert len(deps) == 101
    assert len(regions) == 18
    assert len({d.code for d in deps}) == 101
    assert [r.code for r in regions if r.code in {"R01", "R02", "R03", "R04", "R06"}] == [
        "R01", "R02", "R03", "R04", "R06",
    ]
    assert sum(1 for d in deps if d.code.startswith("97")) == 5
    assert deps[0].code == "01" and deps[-1].code == "976"
    assert all(d.level is Level.departement and d.name for d in deps)
    assert all(r.level is Level.region and r.name for r in regions)


@pytest.mark.parametrize(
    ("dep", "region"),
    [
        ("2A", "R94"), ("2B", "R94"), ("971", "R01"), ("972", "R02"), ("973", "R03"), ("974", "R04"),
        ("976", "R06"), ("75", "R11"), ("93", "R11"), ("45", "R24"), ("21", "R27"), ("90", "R27"),
        ("76", "R28"), ("50", "R28"), ("59", "R32"), ("02", "R32"), ("67", "R44"), ("08", "R44"),
        ("44", "R52"), ("85", "R52"), ("29", "R53"), ("56", "R53"), ("33", "R75"), ("86", "R75"),
        ("31", "R76"), ("48", "R76"), ("69", "R84"), ("03", "R84"), ("13", "R93"), ("05", "R93"),
    ],
)
def test_departement_regions(dep, region):
    assert t.region_of(dep) == region


def test_every_region_has_departements():
    by_region = Counter(d.region for d in t.all_departements())
    assert set(by_region) == {r.code for r in t.all_regions()}
    for overseas in ("R01", "R02", "R03", "R04", "R06"):
        assert by_region[overseas] == 1
    assert by_region["R11"] == 8
    assert by_region["R94"] == 2


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("93048", "Montreuil"), ("93066", "Saint-Denis"), ("13055", "Marseille"), ("75056", "Paris"),
        ("69123", "Lyon"), ("31555", "Toulouse"), ("97411", "Saint-Denis"), ("97611", "Mamoudzou"),
        ("97302", "Cayenne"), ("2A004", "Ajaccio"), ("2B033", "Bastia"),
    ],
)
def test_known_communes(code, name):
    assert t.parse_territory(code).name == name


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "code", ["99", "20", "20123", "ABC", "", "   ", "R99", "R5", "96", "975", "97511", "9A123", "93000",
             "930", "1", "FRA", "93066 ", "93-066"],
)
def test_unknown_codes_raise(code):
    if code == "93066 ":  # trailing whitespace is fine
        assert t.parse_territory(code).code == "93066"
        return
    with pytest.raises(TerritoryError) as err:
        t.parse_territory(code)
    message = str(err.value)
    if code.strip():
        assert f"« {code} »" in message or f"« {code.strip().upper()} »" in message, message
    else:
        assert message.startswith("code territoire vide"), message


def test_error_messages_say_what_is_allowed():
    with pytest.raises(TerritoryError, match=r"département inconnu « 9A » dans le code territoire « 9A123 ».*2A et 2B"):
        t.parse_territory("9A123")
    with pytest.raises(TerritoryError, match="« 2A » ou « 2B »"):
        t.parse_territory("20123")
    with pytest.raises(TerritoryError, match="R11"):
        t.parse_territory("R99")
    assert issubclass(TerritoryError, ValueError)


def test_non_string_raises():
    with pytest.raises(TerritoryError):
        t.parse_territory(93066)


# --- covers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("coverage", "territory", "expected"),
    [
        (["FR"], "93066", True),
        (["FR"], "97611", True),
        (["FR"], "R94", True),
        (["FR"], "FR", True),
        (["R11"], "93", True),
        (["R11"], "93066", True),
        (["R11"], "R11", True),
        (["93"], "93066", True),
        (["93"], "93", True),
        (["93066"], "93066", True),
        (["93066"], "93", False),
        (["93"], "R11", False),
        (["R11"], "FR", False),
        (["93048"], "93066", False),
        (["92"], "93066", False),
        (["R11"], "13055", False),
        (["R93"], "93066", False),  # région 93 (PACA) is not département 93
        (["R94"], "2A004", True),
        (["2B"], "2A004", False),
        (["R04"], "97411", True),
        (["R01"], "97411", False),
        (["974"], "97611", False),
        (["13", "R11"], "93066", True),
        (["13", "69"], "93066", False),
        ([], "93066", False),
        (("r11",), " 93066 ", True),
    ],
)
def test_covers(coverage, territory, expected):
    assert t.covers(coverage, territory) is expected


def test_covers_accepts_a_single_code_string():
    assert t.covers("R11", "93066") is True
    assert t.covers("93066", "93") is False


@pytest.mark.parametrize(
    ("coverage", "territory", "bad"),
    [
        (["99"], "93066", "99"),
        (["FR", "R99"], "93066", "R99"),  # reported even after a hit
        (["FR"], "20123", "20123"),
        (["FR"], "ABC", "ABC"),
        (["93"], "", ""),
    ],
)
def test_covers_rejects_unknown_codes(coverage, territory, bad):
    with pytest.raises(TerritoryError) as err:
        t.covers(coverage, territory)
    assert (f"« {bad} »" in str(err.value)) if bad else str(err.value).startswith("code territoire vide")


# --- distance -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("93066", "93066", 0),
        ("93066", "93048", 1),
        ("93066", "93", 1),
        ("93", "93", 1),
        ("93066", "75056", 2),
        ("93066", "R11", 2),
        ("93", "75", 2),
        ("R11", "R11", 2),
        ("93066", "13055", 3),
        ("93066", "FR", 3),
        ("2A004", "2B033", 2),
        ("97411", "97611", 3),
        ("FR", "FR", 3),
    ],
)
def test_territory_distance(a, b, distance):
    assert t.territory_distance(a, b) == distance
    assert t.territory_distance(b, a) == distance


def test_distance_rejects_unknown_codes():
    with pytest.raises(TerritoryError, match="« 99 »"):
        t.territory_distance("93066", "99")


# --- postcodes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("postcode", "dep"),
    [
        ("75011", "75"), ("20000", "2A"), ("20199", "2A"), ("20137", "2A"), ("20200", "2B"), ("20600", "2B"),
        ("97400", "974"), ("97100", "971"), ("97200", "972"), ("97300", "973"), ("97600", "976"),
        ("01000", "01"), ("93735", "93"), ("75700", "75"), (" 86700 ", "86"),
    ],
)
def test_postcode_to_departement(postcode, dep):
    assert t.postcode_to_departement(postcode) == dep


@pytest.mark.parametrize("postcode", ["98000", "98800", "97500", "20700", "00100", "96000", "7501", "750111",
                                      "ABCDE", "", "75 011"])
def test_postcode_to_departement_rejects(postcode):
    with pytest.raises(TerritoryError) as err:
        t.postcode_to_departement(postcode)
    assert f"« {postcode} »" in str(err.value) or repr(postcode) in str(err.value)


@pytest.mark.parametrize(
    ("text", "postcode"),
    [
        ("Cour de la Mairie 86700 COUHE", "86700"),
        ("12 rue de la République, 93200 Saint-Denis", "93200"),
        ("3 bis avenue Foch 75116 PARIS CEDEX 16", "75116"),
        ("BP 1234 - 20000 Ajaccio", "20000"),
        ("Lieu-dit Kerloc'h, 29560 Trégarvan, France", "29560"),
        ("Mairie, 97600 Mamoudzou", "97600"),
        ("SIRET 12345678901234, 13001 Marseille", "13001"),
        ("1 place du Palais 98000 Monaco", None),
        ("10 rue des Lilas, Paris", None),
        ("", None),
    ],
)
def test_find_postcode(text, postcode):
    assert t.find_postcode(text) == postcode


# --- kind ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("97611", "overseas"), ("97411", "overseas"), ("974", "overseas"), ("R04", "overseas"),
        ("97422", "overseas"), ("93066", "urban"), ("75056", "urban"), ("75111", "urban"), ("52140", "rural"),
        ("2B023", "rural"), ("48", "rural"), ("93", "unknown"), ("R11", "unknown"), ("FR", "unknown"),
        # Every metropolitan commune is classed by population (3,500 inhabitants): Porto-Vecchio
        # (2A247, about 12,000) was unlisted and took its low-density département's "rural".
        ("2A247", "urban"), ("48095", "urban"), ("48001", "rural"),
    ],
)
def test_territory_kind(code, kind):
    assert t.territory_kind(code) == kind


# --- search -------------------------------------------------------------------------------------

def test_search_saint_d_finds_saint_denis():
    found = t.search_communes("saint-d", limit=20)
    assert {"93066", "97411"} <= {c.code for c in found}
    assert all(c.level is Level.commune for c in found)
    assert [c.code for c in t.search_communes("Saint D", limit=20)] == [c.code for c in found]


def test_search_is_accent_and_case_insensitive():
    # Évry (Yonne) is the exact name; then Évry-Courcouronnes, more populous than Évry-Grégy-sur-Yerre.
    assert [c.code for c in t.search_communes("evry")] == ["89162", "91228", "77175"]
    assert [c.code for c in t.search_communes("ÉVRY-COUR")] == ["91228"]
    assert t.search_communes("saint etienne")[0].code == "42218"
    assert t.search_communes("SAINT-ÉTIENNE")[0].code == "42218"
    assert "45234" in {c.code for c in t.search_communes("orleans")}
    assert "2B121" in {c.code for c in t.search_communes("galeria")}
    assert "97229" in {c.code for c in t.search_communes("schoelcher")}


def test_search_exact_match_first_and_limit():
    assert t.search_communes("paris")[0].code == "75056"
    assert t.search_communes("lyon")[0].code == "69123"
    assert len(t.search_communes("s", limit=3)) == 3
    assert t.search_communes("s", limit=0) == []
    assert t.search_communes("") == []
    assert t.search_communes("zzz") == []


def test_search_by_postcode_prefix():
    found = t.search_communes("931", limit=50)
    assert found and all(any(p.startswith("931") for p in c.postcodes) for c in found)
    assert "93048" in {c.code for c in found}  # Montreuil 93100
    assert [c.code for c in t.search_communes("97400")] == ["97411"]
