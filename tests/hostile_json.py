"""Hypothesis strategies for hostile tracker answers: arbitrary JSON, and real answers with
some keys replaced by arbitrary JSON or deleted (the adapters' hostile tests)."""

from __future__ import annotations

import copy
from typing import Any, Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(derandomize=True, deadline=None, max_examples=100,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
COMMON_WORDS = ["0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00", "7", "-1", "3", "1", "",
                "[" * 50 + "]" * 50, "false"]


def json_values(words: Sequence[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON whose strings are often `words` (the tracker's own: stamps, ids, names)."""
    scalars = (st.none() | st.booleans() | st.integers(-3, 2**63) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=12) | st.sampled_from([*words, *COMMON_WORDS]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


def mutated(base: Any, keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`base` with some of `keys` replaced by arbitrary JSON or deleted; sometimes arbitrary JSON itself."""
    edits = st.lists(st.tuples(st.sampled_from(keys), st.none() | st.just("<delete>") | values), max_size=4)

    def apply(changes: list[tuple[str, Any]]) -> Any:
        data = copy.deepcopy(base)
        for key, value in changes:
            if value == "<delete>":
                data.pop(key, None)
            else:
                data[key] = value
        return data

    return st.one_of(edits.map(apply), values)


def listed(base: list[Any], keys: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A list of `base` items, one of them mutated; sometimes arbitrary JSON instead of the list."""
    return st.one_of(
        st.integers(0, len(base) - 1).flatmap(
            lambda i: mutated(base[i], keys, values).map(lambda item: base[:i] + [item] + base[i + 1:])),
        values)
