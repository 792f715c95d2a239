"""App start-up: process-wide limits the service sets for itself."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from service.main import limit_blas_threads


def blas_threads() -> set[int]:
    """Thread counts of the BLAS libraries loaded in this process."""
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_blas_pool_is_capped_and_zero_leaves_it() -> None:
    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded
    with threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        assert 2 in before  # (a library built single-threaded may stay at 1)
        limit_blas_threads(0)
        assert blas_threads() == before
        limit_blas_threads(1)
        assert blas_threads() == {1}
