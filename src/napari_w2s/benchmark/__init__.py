"""The paper's benchmark (Tables 1-3 and its claims) on any W2S-layout data set.

``tables`` runs the methods and fills the tables (``runner`` resolves and runs each method),
``claims`` checks the paper's claims against them, ``report`` writes them;
``generalisation`` is the benchmark on held-out simulated test sets.
"""

from .claims import check_claims
from .report import Table
from .tables import DENOISERS, JDSR, SR, iter_benchmark

__all__ = ["DENOISERS", "JDSR", "SR", "Table", "check_claims", "iter_benchmark"]
