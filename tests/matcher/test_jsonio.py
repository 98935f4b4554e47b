"""One nesting limit for JSON read from outside."""

from __future__ import annotations

import json

import pytest

from matcher.jsonio import MAX_JSON_DEPTH, JsonTooDeep, json_depth, loads


def test_depth_counts_arrays_and_objects_but_not_brackets_in_strings() -> None:
    assert json_depth('{"a": [1, {"b": "]]]"}], "c": "[[[[\\"[["}') == 3
    assert json_depth("1") == 0 and json_depth("[]") == 1


def test_loads_accepts_the_limit_and_refuses_one_more() -> None:
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads(ok) == json.loads(ok)
    with pytest.raises(JsonTooDeep, match=f"plus de {MAX_JSON_DEPTH} niveaux"):
        loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    with pytest.raises(JsonTooDeep):
        loads("[" * 50_000)  # malformed and deep: the depth is what is said
    with pytest.raises(json.JSONDecodeError):
        loads('{"a": ')
