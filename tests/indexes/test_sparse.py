from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from indexes.dense import IndexFileError
from indexes.sparse import CONFIG_FILE, TOKENS_FILE, FrenchAnalyzer, SparseIndex, SparseIndexFileError, top_rows

DOCS = {
    "jardin": "Appel à projets jardins partagés : potagers et compost dans les quartiers.",
    "numerique": "Inclusion numérique : accompagner les seniors vers les démarches en ligne.",
    "emploi": "Chantiers d'insertion et accès à l'emploi des jeunes éloignés du travail.",
    "education": "L'éducation populaire et les associations d'éducation à l'environnement.",
    "sport": "Le sport pour tous : clubs, associations sportives et équipements de quartier.",
    "sante": "Prévention santé et accès aux soins dans les territoires ruraux.",
}


def built(docs: dict[str, str] = DOCS) -> SparseIndex:
    return SparseIndex().build(list(docs), list(docs.values()))


def lucene_bm25(corpus: list[list[str]], query: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Hand-written BM25 (Lucene idf, no (k1 + 1) factor, one term per query token): the oracle."""
    n, avgdl = len(corpus), sum(map(len, corpus)) / len(corpus)
    df = Counter(t for doc in corpus for t in set(doc))
    out = np.zeros(n)
    for j, doc in enumerate(corpus):
        tf = Counter(doc)
        for t in query:
            if tf[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                out[j] += idf * tf[t] / (tf[t] + k1 * (1 - b + b * len(doc) / avgdl))
    return out


def oracle_top(scores: np.ndarray, ids: list[str], k: int, mask: np.ndarray | None = None) -> list[str | None]:
    """Best k by score, then insertion order; only positive scores; padded with None."""
    rows = [j for j in range(len(ids)) if scores[j] > 0 and (mask is None or mask[j])]
    rows.sort(key=lambda j: (-scores[j], j))
    top: list[str | None] = [ids[j] for j in rows[:k]]
    return top + [None] * (k - len(top))


@pytest.fixture(scope="module")
def synthetic() -> tuple[list[str], list[str], list[str]]:
    """2,000 seeded documents over 500 French-ish words, and 40 queries."""
    rng = np.random.default_rng(11)
    syllables = ["ba", "ré", "con", "tion", "ment", "par", "ta", "gé", "lo", "ca", "mi", "nu", "san", "jar", "din"]
    words = sorted({"".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) for _ in range(900)})[:500]
    p = 1 / np.arange(1, len(words) + 1)
    p /= p.sum()
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 25)), p=p)) for _ in range(2000)]
    queries = [" ".join(rng.choice(words, size=int(rng.integers(1, 5)))) for _ in range(40)]
    return [f"r{i}" for i in range(2000)], texts, queries


# --- analyser ------------------------------------------------------------------------------------


def test_analyser_removes_elisions_with_either_apostrophe() -> None:
    a = FrenchAnalyzer()
    assert a.analyze("l'association") == a.analyze("association") == a.analyze("l’association")
    assert a.analyze("d'insertion") == a.analyze("d’insertion") == a.analyze("insertion")
    assert a.analyze("qu'un jusqu'à aujourd'hui") == []


def test_analyser_folds_accents_after_stemming_and_merges_inflections() -> None:
    a = FrenchAnalyzer()
    assert a.analyze("éducation") == a.analyze("education") == a.analyze("ÉDUCATION")
    assert a.analyze("associations") == a.analyze("association")
    assert a.analyze("jardins partagés") == a.analyze("jardin partage")
    assert a.analyze("Œuvre") == a.analyze("oeuvre")
    assert all(t.isascii() for t in a.analyze("écologie énergie bénévoles mobilité"))


def test_analyser_drops_stop_words_keeps_digits_and_domain_words() -> None:
    a = FrenchAnalyzer()
    assert a.analyze("le la les des du et est sont a été ont avait") == a.analyze("été")
    assert len(a.analyze("été")) == 1  # kept: "Quartiers d'été" is a programme name
    assert a.analyze("Appel à projets 2027 pour le 93") == [*a.analyze("appel projets"), "2027", "93"]
    assert a.analyze("maïs") != [] and a.analyze("mais") == []
    assert a.analyze("aide emploi jeunes public") != []
    assert a.analyze("Seine-Saint-Denis") == a.analyze("seine saint denis")
    assert FrenchAnalyzer(min_token_len=1).analyze("5 à") == ["5"]


def test_analyser_switches_and_validation() -> None:
    assert FrenchAnalyzer(stem=False, fold_accents=False).analyze("Les Associations éducatives") == [
        "associations",
        "éducatives",
    ]
    assert FrenchAnalyzer(stem=False).analyze("éducatives") == ["educatives"]
    with pytest.raises(ValueError, match="min_token_len"):
        FrenchAnalyzer(min_token_len=0)
    with pytest.raises(ValueError, match="stem"):
        FrenchAnalyzer(stem="yes")  # type: ignore[arg-type]


# --- search --------------------------------------------------------------------------------------


def test_garden_query_finds_the_garden_document_with_or_without_accents() -> None:
    index = built()
    for query in ("jardins partagés", "jardin partage", "Les jardins partagés du quartier"):
        scores, got = index.search(query, 3)
        assert got[0] == "jardin" and scores[0] > 0
    _, got = index.search("éducation", 6)
    assert got[0] == "education" and got[1:] == [None] * 5  # only one document matches


def test_scores_match_a_hand_written_bm25(synthetic: tuple[list[str], list[str], list[str]]) -> None:
    ids, texts, queries = synthetic
    index = SparseIndex().build(ids, texts)
    corpus = [index.analyzer.analyze(t) for t in texts]
    for q in queries[:10]:
        expected = lucene_bm25(corpus, index.analyzer.analyze(q))
        np.testing.assert_allclose(index.score_of(q, ids), expected, rtol=1e-4, atol=1e-5)
        scores, got = index.search(q, 15)
        assert got == oracle_top(expected, ids, 15)
        found = sum(g is not None for g in got)
        np.testing.assert_allclose(scores[:found], np.sort(expected)[::-1][:found], rtol=1e-4)


def test_filtered_search_returns_k_allowed_docs_and_never_others(
    synthetic: tuple[list[str], list[str], list[str]],
) -> None:
    ids, texts, queries = synthetic
    index = SparseIndex().build(ids, texts)
    allowed = set(ids[::23]) | {"unknown-id"}
    mask = np.array([i in allowed for i in ids])
    for q in queries:
        full = index.score_of(q, ids)
        _, got = index.search(q, 10, allowed=allowed)
        assert got == oracle_top(full, ids, 10, mask)
        assert {g for g in got if g is not None} <= allowed
        assert sum(g is not None for g in got) == min(10, int(((full > 0) & mask).sum()))


def test_fewer_matches_than_k_pad_with_none_and_minus_inf() -> None:
    index = built()
    scores, got = index.search("associations", 4)
    assert set(got[:2]) == {"education", "sport"} and got[2:] == [None, None]
    assert np.isfinite(scores[:2]).all() and np.isneginf(scores[2:]).all() and scores.dtype == np.float32
    _, got = index.search("associations", 4, allowed=["sport", "jardin"])
    assert got == ["sport", None, None, None]
    _, got = index.search("associations", 2, allowed=[])
    assert got == [None, None]


@pytest.mark.parametrize("query", ["", "   ", "le la les et", "!!!", "mot-inconnu-xyz"])
def test_query_without_indexed_terms_returns_padding(query: str) -> None:
    scores, got = built().search(query, 3)
    assert got == [None, None, None] and np.isneginf(scores).all()


def test_score_of_aligns_with_ids_and_gives_zero_for_unknown_or_unmatched() -> None:
    index = built()
    got = index.score_of("jardins partagés", ["emploi", "nope", "jardin"])
    assert got.shape == (3,) and got.dtype == np.float32
    assert got[0] == 0.0 and got[1] == 0.0 and got[2] > 0
    assert index.score_of("", ["jardin"]).tolist() == [0.0]


def test_input_validation_names_the_problem() -> None:
    index = built()
    with pytest.raises(ValueError, match="duplicate id 'a'"):
        SparseIndex().build(["a", "b", "a"], ["x", "y", "z"])
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        index.upsert(["a", "b"], ["x"])
    with pytest.raises(ValueError, match="k must be"):
        index.search("jardin", 0)
    with pytest.raises(ValueError, match="single string"):
        index.search("jardin", 3, allowed="jardin")
    with pytest.raises(ValueError, match="b must be"):
        SparseIndex(b=2.0)


# --- live updates --------------------------------------------------------------------------------


def test_removed_id_is_never_returned_again(synthetic: tuple[list[str], list[str], list[str]]) -> None:
    ids, texts, queries = synthetic
    index = SparseIndex().build(ids, texts)
    removed = set(ids[:300])
    assert index.remove([*removed, "unknown"]) == 300 and len(index) == 1700
    index.upsert([f"new{i}" for i in range(50)], texts[:50])  # other docs added after the removal
    assert not removed & set(index.ids)
    for q in queries:
        _, got = index.search(q, 2000)
        _, filtered = index.search(q, 2000, allowed=removed)
        assert not removed & set(got) and filtered == [None] * 2000
        assert (index.score_of(q, list(removed)) == 0).all()


def test_upsert_replaces_text_and_statistics_follow() -> None:
    index = built()
    index.upsert(["sport"], ["Jardins partagés et jardins ouvriers"])
    _, got = index.search("jardins", 3)
    assert got[:2] == ["sport", "jardin"] and len(index) == len(DOCS)
    assert index.score_of("clubs sportifs", ["sport"]).tolist() == [0.0]
    index.upsert(["velo"], ["Ateliers vélo"])
    assert index.ids[-1] == "velo" and index.search("vélo", 1)[1] == ["velo"]


def test_index_with_no_tokens_or_no_docs_is_searchable() -> None:
    assert SparseIndex().search("jardin", 2)[1] == [None, None]
    empty_docs = SparseIndex().build(["a", "b"], ["le la les", ""])
    assert empty_docs.search("jardin", 2)[1] == [None, None] and len(empty_docs) == 2
    empty_docs.upsert(["c"], ["jardin"])
    assert empty_docs.search("jardin", 2)[1] == ["c", None]


# --- persistence ---------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_results(
    tmp_path: Path, synthetic: tuple[list[str], list[str], list[str]]
) -> None:
    ids, texts, queries = synthetic
    index = SparseIndex(FrenchAnalyzer(min_token_len=3), k1=1.2, b=0.6).build(ids, texts)
    index.remove(ids[:10])
    files = index.save(tmp_path)
    assert sorted(p.name for p in files) == sorted([CONFIG_FILE, TOKENS_FILE])
    loaded = SparseIndex.load(tmp_path)
    assert loaded.analyzer == index.analyzer and (loaded.k1, loaded.b) == (1.2, 0.6)
    assert loaded.ids == index.ids
    for q in queries:
        s1, g1 = index.search(q, 20, allowed=ids[::3])
        s2, g2 = loaded.search(q, 20, allowed=ids[::3])
        assert g1 == g2 and np.array_equal(s1, s2)


@pytest.mark.parametrize(
    "damage",
    ["truncate_tokens", "truncate_config", "flip_token_byte", "drop_last_line", "newer_version", "missing_tokens"],
)
def test_corrupt_files_raise_value_error_naming_the_file(tmp_path: Path, damage: str) -> None:
    built().save(tmp_path)
    tokens, config = tmp_path / TOKENS_FILE, tmp_path / CONFIG_FILE
    bad = {
        "truncate_tokens": tokens,
        "flip_token_byte": tokens,
        "drop_last_line": tokens,
        "missing_tokens": tokens,
        "truncate_config": config,
        "newer_version": config,
    }[damage]
    if damage == "truncate_tokens" or damage == "truncate_config":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif damage == "flip_token_byte":
        raw = bytearray(tokens.read_bytes())
        raw[10] ^= 0x01
        tokens.write_bytes(bytes(raw))
    elif damage == "drop_last_line":
        tokens.write_text("".join(tokens.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), "utf-8")
    elif damage == "missing_tokens":
        tokens.unlink()
    else:
        cfg = json.loads(config.read_text(encoding="utf-8"))
        cfg["format_version"] = 99
        config.write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(ValueError, match=bad.name) as info:
        SparseIndex.load(tmp_path)
    assert isinstance(info.value, SparseIndexFileError) and isinstance(info.value, IndexFileError)


def _naive_top(scores: np.ndarray, k: int) -> np.ndarray:
    pos = np.flatnonzero(scores > 0)
    return pos[np.lexsort((pos, -scores[pos]))][:k]


@pytest.mark.parametrize("positive_share", [1.0, 0.5, 0.01, 0.0001])
@pytest.mark.parametrize("k", [1, 10, 200, 5000])
def test_top_rows_of_a_large_vector_equal_a_full_sort_ties_included(positive_share: float, k: int) -> None:
    rng = np.random.default_rng(int(positive_share * 1e4) + k)
    n = 300_000  # past the size from which the cut read from a sample is used
    scores = np.round(rng.random(n) * 5, 1).astype(np.float32)  # few distinct values: many ties
    scores[rng.random(n) >= positive_share] = 0
    got = top_rows(scores, k)
    np.testing.assert_array_equal(got, _naive_top(scores, k))


def test_top_rows_when_fewer_than_k_rows_reach_the_sample_s_cut() -> None:
    """The sampled rows hold the only high scores: fewer than k rows reach the cut read from them, so the
    selection runs on every positive row and the answer is still complete."""
    n = 200_000
    step = n // 16_384  # the stride of the sample
    scores = np.zeros(n, dtype=np.float32)
    scores[1::7] = 0.5
    scores[0:50 * step:step] = 9.0
    got = top_rows(scores, 100)
    assert got.size == 100
    np.testing.assert_array_equal(got, _naive_top(scores, 100))
