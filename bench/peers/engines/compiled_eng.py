"""(7e) xieshang evaluate(backend="compiled") + to_advice(): the full path on the compiled
backend (the pack lowered to Python once per load; see xieshang_eng.py)."""
from .xieshang_eng import Xieshang

NAME = "xieshang compiled backend (evaluate + to_advice)"


def load(pack):
    return Xieshang(pack, "full", backend="compiled")
