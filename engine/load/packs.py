"""Where the built-in rule packs are: inside the wheel, or in the source tree."""

from __future__ import annotations

from pathlib import Path

DEFAULT_PACK = "jiebei"


def builtin_rules_dir() -> Path:
    """``engine/_data/rules`` in an installed wheel, else the repository's ``rules/``."""
    here = Path(__file__).resolve().parent.parent  # engine/
    for candidate in (here / "_data" / "rules", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the built-in rules directory is missing from this installation")


def default_pack_dir() -> Path:
    return builtin_rules_dir() / DEFAULT_PACK
