"""``xieshang batch``: many situations, one advice per line (issue 5)."""

from __future__ import annotations
