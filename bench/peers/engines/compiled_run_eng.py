"""(7f) xieshang engine.run.lowered.run(program, situation): the compiled backend at run() level
(no validation, no ranking; the same firings and working memory as engine.run.driver.run)."""
from .xieshang_eng import Xieshang

NAME = "xieshang compiled backend run() (lowered Python only)"


def load(pack):
    return Xieshang(pack, "run", backend="compiled")
