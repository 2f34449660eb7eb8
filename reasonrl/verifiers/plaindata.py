"""Plain data across the sandbox wall: a tagged JSON form that can only ever decode to builtin values.

    text = encode((1, [2.5, "x"], {b"k": None}))      # '["t", [["i", "1"], ...]]'
    decode(text) == (1, [2.5, "x"], {b"k": None})     # True; never calls code the sender made

Allowed: None, bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict, nested at
most MAX_DEPTH deep; collections' Counter, OrderedDict and defaultdict travel as plain dicts, and
those builtin types themselves (`int`, `str`, ...) by name, as test arguments often are. `encode` checks `type(x) is int` (never isinstance), so an int subclass with an
always-true `__eq__` is refused at the source; `decode` builds values from JSON alone, so whatever a
sender writes, the receiver gets builtin objects whose comparisons are the builtin ones. Floats travel
as hex (exact, NaN and infinities included), ints as hex strings (no digit limit on the way back),
str (UTF-8, lone surrogates kept) and bytes as hex. This file imports only `collections`, so that
the sandbox server, built from its source, starts fast (no json, no re): `dumps` writes the JSON.
"""
import collections

MAX_DEPTH = 100
MAX_INT_HEX = 100_000                 # hex digits of one int (about 400 000 bits)
_SEQ = {list: "l", tuple: "t", set: "S", frozenset: "F"}
_SEQ_BACK = {v: k for k, v in _SEQ.items()}
_DICTS = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)
_TYPES = {t.__name__: t for t in (bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict)}


class NotPlain(TypeError):
    """A value (or something inside it) that is not plain data."""


def to_tree(x, depth: int = 0):
    """x -> nested lists of JSON scalars, tagged by exact type. Raises NotPlain."""
    if depth > MAX_DEPTH:
        raise NotPlain(f"nested more than {MAX_DEPTH} deep")
    t = type(x)
    if x is None:
        return ["n"]
    if t is bool:
        return ["b", x]
    if t is int:
        return ["i", format(x, "x")]
    if t is float:
        return ["f", x.hex()]
    if t is complex:
        return ["c", x.real.hex(), x.imag.hex()]
    if t is str:
        return ["s", x.encode("utf-8", "surrogatepass").hex()]
    if t is bytes:
        return ["y", x.hex()]
    if t in _SEQ:
        return [_SEQ[t], [to_tree(v, depth + 1) for v in x]]
    if t is type and _TYPES.get(getattr(x, "__name__", None)) is x:
        return ["T", x.__name__]
    if t in _DICTS:
        return ["d", [[to_tree(k, depth + 1), to_tree(v, depth + 1)] for k, v in x.items()]]
    raise NotPlain(f"a {t.__module__}.{t.__qualname__} is not plain data")


def _str(node, i: int) -> str:
    if len(node) <= i or type(node[i]) is not str:
        raise ValueError(f"tag {node[0]!r} needs a string")
    return node[i]


def from_tree(node, depth: int = 0):
    """The inverse of to_tree; raises ValueError on anything malformed."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} deep")
    if type(node) is not list or not node or type(node[0]) is not str:
        raise ValueError("each value must be a list [tag, ...]")
    tag = node[0]
    if tag == "n" and len(node) == 1:
        return None
    if tag == "b" and len(node) == 2 and type(node[1]) is bool:
        return node[1]
    if tag == "i":
        s = _str(node, 1)
        if len(s) > MAX_INT_HEX or not s.lstrip("-").isalnum():
            raise ValueError("malformed int")
        return int(s, 16)
    if tag == "f":
        return float.fromhex(_str(node, 1))
    if tag == "c":
        return complex(float.fromhex(_str(node, 1)), float.fromhex(_str(node, 2)))
    if tag == "s":
        return bytes.fromhex(_str(node, 1)).decode("utf-8", "surrogatepass")
    if tag == "y":
        return bytes.fromhex(_str(node, 1))
    if tag in _SEQ_BACK and len(node) == 2 and type(node[1]) is list:
        try:
            return _SEQ_BACK[tag](from_tree(v, depth + 1) for v in node[1])
        except TypeError as e:           # an unhashable member of a set
            raise ValueError(str(e)) from None
    if tag == "T" and _str(node, 1) in _TYPES:
        return _TYPES[node[1]]
    if tag == "d" and len(node) == 2 and type(node[1]) is list:
        out = {}
        for kv in node[1]:
            if type(kv) is not list or len(kv) != 2:
                raise ValueError("dict items must be [key, value] pairs")
            try:
                out[from_tree(kv[0], depth + 1)] = from_tree(kv[1], depth + 1)
            except TypeError as e:       # an unhashable key
                raise ValueError(str(e)) from None
        return out
    raise ValueError(f"unknown or malformed tag {tag[:20]!r}")


def _jstr(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    units = s.encode("utf-16-le", "surrogatepass")
    return '"' + "".join("\\u" + units[i + 1:i + 2].hex() + units[i:i + 1].hex() for i in range(0, len(units), 2)) + '"'


def dumps(obj) -> str:
    """JSON for what to_tree makes and the sandbox's messages: lists, dicts with str keys, str, int,
    bool, None (the json module is not imported by the sandbox: it costs ~50 ms a start)."""
    t = type(obj)
    if obj is None:
        return "null"
    if t is bool:
        return "true" if obj else "false"
    if t is int:
        return str(obj)
    if t is str:
        return _jstr(obj)
    if t is list or t is tuple:
        return "[" + ",".join([dumps(v) for v in obj]) + "]"
    if t is dict:
        return "{" + ",".join([_jstr(str(k)) + ":" + dumps(v) for k, v in obj.items()]) + "}"
    raise NotPlain(f"cannot write a {t.__name__} as JSON")


def encode(x) -> str:
    return dumps(to_tree(x))


def decode(text):
    """Raises ValueError on anything but a well-formed encoding of plain data."""
    import json

    try:
        return from_tree(json.loads(text))
    except RecursionError:
        raise ValueError("nested too deeply") from None
