"""The ground floor: values every stage shares, importing nothing of the engine.

``UNKNOWN`` is the unknown value of three-valued logic (re-exported by ``engine.pack.expr``);
``canonical_json`` is the one canonical JSON text (digests, comparisons of values).
"""

from __future__ import annotations

import json
from typing import Final


class _Unknown:
    """The type of ``UNKNOWN``: a falsy singleton that survives copy and pickle."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()


def canonical_json(obj: object) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8 characters kept, NaN refused.

    >>> canonical_json({"b": [1, 2.5], "a": "借呗"})
    '{"a":"借呗","b":[1,2.5]}'
    """
    return _CANONICAL.encode(obj)


#: ``json.dumps`` with these options makes this encoder for every call (a tenth of a situation's
#: digest); it keeps no state between calls, so one serves every caller
_CANONICAL = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
)
