"""The paper's benchmark (Tables 1-3 and its claims) on any W2S-layout data set."""

from .tables import DENOISERS, JDSR, SR, Table, check_claims, iter_benchmark

__all__ = ["DENOISERS", "JDSR", "SR", "Table", "check_claims", "iter_benchmark"]
