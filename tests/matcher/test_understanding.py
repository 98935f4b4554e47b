"""The French text reader (issue 16 item 5): measured on sentences written for it, then rule by rule."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from matcher import territory
from matcher.schemas import LegalForm, MatchQuery, Need, Stage
from matcher.understanding import FIELDS, MAX_READ_CHARS, Understanding, apply_understanding, read_text, understand

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "understanding"
SENTENCES = FIXTURES / "sentences.jsonl"
# Written after the reader, in a looser voice; measured at 0.904 before the reader was corrected on
# what they showed (so no longer held out): this floor guards against a regression, not a claim.
HELDOUT = FIXTURES / "heldout.jsonl"
REQUIRED_SHARE = 0.95
HELDOUT_FLOOR = 0.95


def _records(path: Path = SENTENCES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _right(field: str, record: dict[str, Any], got: Understanding) -> bool:
    """A field is right when what was read equals what was expected, or when both are absent. A
    homonym listed with ``territory_alternatives`` is right when any of them is read, marked ambiguous."""
    expected = record["expected"].get(field)
    if field == "needs":
        return set(got.values("needs")) == set(expected or [])
    item = got.get(field)  # type: ignore[arg-type]
    if item is None or expected is None:
        return item is None and expected is None
    if field == "amount_sought":
        return abs(float(item.value) - float(expected)) < 0.01
    if field == "territory" and record.get("territory_alternatives"):
        return item.ambiguous and item.value in [expected, *record["territory_alternatives"]]
    return item.value == expected and (field != "territory" or not item.ambiguous)


def field_shares(records: list[dict[str, Any]]) -> dict[str, float]:
    """Share of fields right, per field and overall (``"all"``), over every record."""
    right = dict.fromkeys(FIELDS, 0)
    for record in records:
        got = read_text(record["text"], departement_hint=record.get("departement_hint"))
        for field in FIELDS:
            right[field] += _right(field, record, got)
    shares = {field: right[field] / len(records) for field in FIELDS}
    shares["all"] = sum(right.values()) / (len(records) * len(FIELDS))
    return shares


def test_the_sentence_file_is_what_the_task_asks_for() -> None:
    records = _records()
    assert len(records) >= 150
    assert sum(1 for r in records if not r["expected"]) >= 30
    for r in records:
        assert set(r["expected"]) <= set(FIELDS), r
        code = r["expected"].get("territory")
        if code is not None:
            territory.parse_territory(code)  # a real code, of the shipped list or a département/région


def test_share_of_fields_right_on_the_sentence_file() -> None:
    shares = field_shares(_records())
    print("share of fields right:", json.dumps({k: round(v, 4) for k, v in shares.items()}))
    assert shares["all"] >= REQUIRED_SHARE, shares


def test_share_of_fields_right_on_the_looser_sentences() -> None:
    shares = field_shares(_records(HELDOUT))
    print("share of fields right (looser sentences):", json.dumps({k: round(v, 4) for k, v in shares.items()}))
    assert shares["all"] >= HELDOUT_FLOOR, shares


def test_every_item_quotes_its_evidence_exactly() -> None:
    for record in _records() + _records(HELDOUT):
        text = record["text"]
        for item in read_text(text, departement_hint=record.get("departement_hint")).items:
            assert text[item.start:item.end] == item.text and item.text.strip(), (record, item)
            assert f"« {' '.join(item.text.split())}" in item.label


# --- amounts ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "euros"), [
    ("Il nous manque 18 000 € pour la serre.", 18_000),
    ("Il nous manque 18 000 euros.", 18_000),
    ("Il nous manque 18\u202f000\u00a0€.", 18_000),
    ("Nous cherchons 18k€.", 18_000),
    ("Nous cherchons 18 k€.", 18_000),
    ("Nous cherchons 18K pour le camion.", 18_000),
    ("Nous cherchons environ 20 000 euros.", 20_000),
    ("Le budget du projet est de 20.000 €.", 20_000),
    ("Nous sollicitons 1,5 million d'euros.", 1_500_000),
    ("Nous sollicitons 1.5 M€.", 1_500_000),
    ("Il nous faut 2 500€.", 2_500),
    ("Il nous manque quinze mille euros.", 15_000),
    ("Il nous manque deux cent cinquante mille euros.", 250_000),
    ("Il nous manque quatre-vingt-dix mille euros.", 90_000),
    ("Nous cherchons entre 10 000 et 15 000 €.", 15_000),
    ("Nous cherchons de 9 000 € à 12 000 €.", 12_000),
    ("Nous cherchons 10-15 k€.", 15_000),
    ("Nous avons déjà reçu 5 000 €, il nous manque 7 000 €.", 7_000),
    ("Il nous manque 800 000 € sur un budget total de 1,2 million d'euros.", 800_000),
])
def test_amount_formats(text: str, euros: float) -> None:
    item = read_text(text).get("amount_sought")
    assert item is not None and item.value == pytest.approx(euros), text
    assert Need.financement.value in read_text(text).values("needs")


@pytest.mark.parametrize("text", [
    "Nous avons déjà reçu 5 000 € de la fondation.",
    "Notre budget annuel est de 200 000 €.",
    "En 2026, 3 000 habitants, 900 m² et 40 bénévoles.",
    "Appelez le 06 12 34 56 78 ou écrivez au 12 rue de la Gare, 29200 Brest.",
    "Le loyer est de 800 € par mois.",
    "Le billet coûte 5 € par personne.",
    "Nous avons 18K abonnés.",
    "Il nous manque 1 000 000 000 000 000 € pour conquérir la Lune.",  # absurd: past any resource
    "Le chiffre d'affaires atteint 450 000 €.",
    "La cantine coûte 3,50 € par repas.",
    "Le tiers-lieu a ouvert avec 15 000 € de la région.",
])
def test_numbers_that_are_not_amounts_sought(text: str) -> None:
    assert read_text(text).get("amount_sought") is None, text


def test_an_amount_without_any_cue_is_read_only_when_it_is_the_only_one() -> None:
    assert read_text("Avec 30 000 € nous pourrions embaucher.").values("amount_sought") == [30_000]
    assert read_text("Avec 30 000 € ou 40 000 € nous pourrions embaucher.").get("amount_sought") is None


# --- places -------------------------------------------------------------------------------------

def test_homonyms_are_resolved_by_departement_evidence() -> None:
    def place(text: str, hint: str | None = None) -> tuple[object, bool]:
        item = read_text(text, departement_hint=hint).get("territory")
        assert item is not None, text
        return item.value, item.ambiguous

    assert place("Nous sommes à Saint-Denis (93).") == ("93066", False)
    assert place("Nous sommes à Saint-Denis (97400).") == ("97411", False)
    assert place("Nous sommes à Saint-Denis, 97400.") == ("97411", False)
    assert place("Nous sommes à Saint-Denis de La Réunion.") == ("97411", False)
    assert place("Nous sommes à Saint-Denis, en Seine-Saint-Denis.") == ("93066", False)
    assert place("Nous sommes à Saint-Denis et à Aubervilliers.") == ("93", False)
    assert place("Nous sommes à Saint-Denis.", "974") == ("97411", False)
    assert place("Nous sommes à Saint-Denis.", "97411") == ("97411", False)  # any code inside the département
    item = read_text("Nous sommes à Saint-Denis.").get("territory")
    assert item is not None and item.ambiguous and item.alternatives
    # Every Saint-Denis of the COG is offered; the most populous (La Réunion's) is read by default.
    assert {"93066", "97411"} <= {item.value, *item.alternatives} and item.value == "97411"
    assert "à vérifier" in item.label


def test_a_hint_alone_makes_no_territory() -> None:
    assert read_text("Nous agissons dans notre quartier.", departement_hint="29").get("territory") is None
    assert read_text("Nous agissons à Brest.", departement_hint="not a code").values("territory") == ["29019"]


@pytest.mark.parametrize("text", [
    "Nous avançons Avec confiance.", "Tours de magie et goûter.", "Le Nord magnétique.",
    "Fontaine à eau dans la cour.", "Les enfants de l'école Saint-Paul.", "Nous habitons rue de Brest.",
    "Le projet est inspiré de ce qui se fait à Grenoble.", "Nous travaillons dans le nord de la France.",
])
def test_common_words_and_streets_are_not_places(text: str) -> None:
    assert read_text(text).get("territory") is None, text


# --- applying -----------------------------------------------------------------------------------

TEXT = ("Notre association anime un jardin à Brest depuis 2019 ; il nous manque 18 000 euros "
        "et nous cherchons un local.")


def test_explicit_fields_always_win() -> None:
    explicit = MatchQuery(text=TEXT, territory="75056", legal_form=LegalForm.collectif, stage=Stage.idee,
                          needs=[Need.expertise], amount_sought=500)
    assert apply_understanding(explicit, read_text(TEXT)) == explicit
    filled = apply_understanding(MatchQuery(text=TEXT), read_text(TEXT))
    assert (filled.territory, filled.legal_form, filled.stage, filled.amount_sought) == \
        ("29019", LegalForm.association, Stage.deploiement, 18_000)
    assert set(filled.needs) == {Need.financement, Need.lieu}


def test_ignored_fields_are_not_filled_and_used_says_what_was() -> None:
    done = understand(MatchQuery(text=TEXT, territory="29"), ignore=["amount_sought"])
    assert done.query.amount_sought is None and done.query.territory == "29"
    assert done.used == {"legal_form", "needs", "stage"}
    assert done.understanding.get("territory") is not None  # still shown, not used


def test_nothing_is_read_from_an_empty_or_plain_text() -> None:
    for text in ("", "   ", "Nous aimons le jardinage.", "\u0000\ufeff€€€ 2026"):
        assert not read_text(text), text
    query = MatchQuery(text="Nous aimons le jardinage.")
    assert apply_understanding(query, read_text(query.text)) is query


def test_a_huge_text_is_read_up_to_the_cap_in_little_time() -> None:
    huge = ("Nous sommes à Brest et il nous manque 18 000 €. " + "Bla bla à Nice, 2026, 3 000 habitants. " * 300_000)
    assert len(huge) > 10_000_000
    began = time.perf_counter()
    got = read_text(huge)
    assert time.perf_counter() - began < 5
    assert got.truncated and got.values("amount_sought") == [18_000]
    assert all(item.end <= MAX_READ_CHARS for item in got.items)
    assert not read_text("Il nous manque " + "9" * 200_000 + " €")  # one absurd number, capped and refused


@pytest.mark.parametrize("unit", [
    "de Abcdef-Ghijk Lmnop Qrstu ",  # a cue of place before capitalised words, again and again
    "à Brest, Nice, Lyon et ",  # lists of places
    "il nous manque 12 345 € et ",  # amounts and their cues
    "nous cherchons un local une salle des conseils ",  # terms of needs in one long sentence
    "Saint-Denis (93) ",
])
def test_a_text_dense_in_cues_is_read_in_little_time(unit: str) -> None:
    text = unit * (MAX_READ_CHARS // len(unit) + 1)
    began = time.perf_counter()
    read_text(text)
    assert time.perf_counter() - began < 1.0, unit
