"""Plain data across the sandbox wall: exact round trips, and nothing but builtin values comes back."""
import collections
import json
import math

import pytest

from reasonrl.verifiers.plaindata import NotPlain, decode, encode


@pytest.mark.parametrize("value", [
    None, True, False, 0, -17, 2**200, -(2**200), 0.1, -0.0, 1e308, 3 + 4j, "", "é\ud800x", b"\x00\xff",
    [1, [2, (3,)]], (), {1, 2}, frozenset({"a"}), {"k": [None], (1, 2): {b"x": 1.5}, 3: frozenset()},
    int, str,
])
def test_round_trip_is_exact_and_keeps_types(value):
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_special_floats_and_stdlib_mappings():
    assert math.isnan(decode(encode(float("nan")))) and decode(encode(-math.inf)) == -math.inf
    assert decode(encode(0.1 + 0.2)) == 0.30000000000000004
    back = decode(encode(collections.Counter("aab")))
    assert back == {"a": 2, "b": 1} and type(back) is dict


class AlwaysEqual(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


@pytest.mark.parametrize("value", [AlwaysEqual(1), [AlwaysEqual(1)], {"k": object()}, type("S", (str,), {})("x"),
                                   bytearray(b"x"), range(3), len, collections.OrderedDict, type("T", (), {})])
def test_anything_but_exact_builtin_types_is_refused(value):
    with pytest.raises(NotPlain):
        encode(value)


def test_deep_nesting_is_refused_both_ways():
    x = []
    for _ in range(200):
        x = [x]
    with pytest.raises(NotPlain):
        encode(x)
    with pytest.raises(ValueError):
        decode("[" * 100_000 + "]" * 100_000)


@pytest.mark.parametrize("text", [
    '["x", 1]', '["i", 5]', '["b", 1]', '["s", 1]', '["l", {}]', '["d", [[["l", []], ["n"]]]]',
    '["S", [["l", []]]]', '["T", "object"]', '["T", "type"]', '{"a": 1}', '5', 'nul', '["f", "junk"]',
    '["y", "!!"]', json.dumps(["i", "f" * 100_001]),
])
def test_malformed_or_unsafe_encodings_are_rejected(text):
    with pytest.raises(ValueError):
        decode(text)
