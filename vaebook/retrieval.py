"""Near neighbours: each query's closest points in a feature space, and their precision.

:func:`nearest_neighbours` finds each query's closest points by Euclidean distance in
any feature space (pixels or codes), exactly, and :func:`precision_at_k` scores the
retrieval by the fraction of neighbours that share the query's label.
"""

from __future__ import annotations

import numpy as np

from vaebook.checks import as_features, check_labels, check_positive_int

__all__ = ["nearest_neighbours", "precision_at_k"]


def nearest_neighbours(
    queries: object,
    database: object,
    k: int,
    exclude_self: bool = False,
    batch_size: int | None = None,
) -> np.ndarray:
    """The ``k`` database rows closest to each query, by Euclidean distance.

    Candidates are first found with distances computed in float32, a batch of queries
    at a time, from ``|q|^2 - 2 q.d + |d|^2`` (on data centred and scaled to about 1);
    that form loses precision to rounding and cancellation, so every candidate within a
    worst-case rounding margin of the ``k``-th distance is measured again directly, in
    float64, as ``|q - d|^2``, and ranked by that. The result is the exact ``k``
    nearest, equal distances ordered by database index, whatever ``batch_size``.

    Args:
        queries: Shape ``(n, ...)``; each row is flattened (images work as they are).
        database: Shape ``(N, ...)`` with the same row size.
        k: Neighbours per query.
        exclude_self: For queries that are the database itself (equal arrays): leave
            each query out of its own neighbours.
        batch_size: Queries per batch (memory only); by default as many as keep each
            batch's distance matrix near 20 million entries.

    Returns:
        Database indices, shape ``(n, k)``, nearest first.
    """
    if exclude_self and not np.array_equal(np.asarray(queries), np.asarray(database)):
        raise ValueError(
            "exclude_self needs the queries to be the database itself; got different arrays."
        )
    queries = as_features(queries, "queries")
    database = as_features(database, "database")
    k = check_positive_int(k, "k")
    if batch_size is None:
        batch_size = max(1, min(1000, 20_000_000 // len(database)))
    batch_size = check_positive_int(batch_size, "batch_size")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(
            f"queries have {queries.shape[1]} features per row but the database has "
            f"{database.shape[1]}."
        )
    available = len(database) - (1 if exclude_self else 0)
    if k > available:
        raise ValueError(f"k = {k} but the database has only {available} candidates.")
    # Candidates are found with distances computed in float32 (half the memory
    # traffic and twice the speed of float64), after centring the data on the
    # database's mean and scaling by a power of two so that its largest entry is about
    # 1: that changes every squared distance by the same factor, and keeps float32 far
    # from overflow. |q|^2 - 2 q.d + |d|^2 then loses precision to rounding and
    # cancellation, by at most `rounding * (|q|^2 + |d|^2)`, a worst-case bound for
    # float32 sums of this length. Every row that could be within the k-th distance
    # after allowing for that is measured again directly, in float64, as |q - d|^2,
    # and ranked by that; equal distances go by database index.
    centre = database.mean(axis=0)
    largest = float(np.abs(database - centre).max())
    scale = 2.0 ** np.ceil(np.log2(largest)) if largest > 0 else 1.0
    database32 = ((database - centre) / scale).astype(np.float32)
    norms32 = np.einsum("ij,ij->i", database32, database32).astype(np.float64)  # (N,)
    rounding = 2.5 * (database.shape[1] + 2) * float(np.finfo(np.float32).eps)
    column_margins = rounding * norms32  # (N,): the database's part of each bound
    # The k-th smallest distance over an evenly spaced subset of at least k + 1
    # columns bounds each row's k-th smallest distance from above.
    stride = max(1, min(len(database) // 2000, len(database) // (k + 1)))
    place = min(k, len(database[::stride]) - 1)  # one more than k - 1, for a self entry
    found = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), batch_size):
        batch = queries[start : start + batch_size]  # (b, features), float64
        batch32 = ((batch - centre) / scale).astype(np.float32)
        batch_norms = np.einsum("ij,ij->i", batch32, batch32).astype(np.float64)  # (b,)
        if not np.all(np.isfinite(batch_norms)):
            raise ValueError(
                "queries lie too far from the database (beyond float32's range after "
                "scaling to the database); rescale both."
            )
        distances = batch32 @ database32.T  # (b, N); in place from here, to save memory
        distances *= -2.0
        distances += batch_norms.astype(np.float32)[:, None]
        distances += norms32.astype(np.float32)[None, :]
        row_margins = rounding * batch_norms + 1e-30  # (b,): the query's part
        if exclude_self:
            rows = np.arange(len(batch))
            distances[rows, start + rows] = np.inf
        # Upper ends of each entry's interval, on the subset: their k-th smallest is
        # an upper bound on the row's true k-th smallest distance.
        upper = distances[:, ::stride] + column_margins[::stride] + row_margins[:, None]
        bound = np.partition(upper, place, axis=1)[:, place]  # (b,)
        # An entry can be among the k nearest only if its interval's lower end is
        # below that bound.
        lower_limit = (bound + row_margins)[:, None] + column_margins[None, :]
        rows, columns = np.nonzero(distances <= lower_limit)  # row-major order
        # Narrow the candidates the same way with the k-th smallest upper end among
        # them (rows always keep at least k: the k nearest are never dropped).
        upper = distances[rows, columns] + column_margins[columns] + row_margins[rows]
        order = np.lexsort((upper, rows))
        rows, columns, upper = rows[order], columns[order], upper[order]
        counts = np.bincount(rows, minlength=len(batch))
        if counts.min() < k:  # cannot happen: every row has k entries below its bound
            raise AssertionError("nearest_neighbours lost candidates; please report.")
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])  # (b,)
        cutoffs = upper[starts + k - 1]  # (b,)
        lower = upper - 2 * (column_margins[columns] + row_margins[rows])
        keep = lower <= cutoffs[rows]
        rows, columns = rows[keep], columns[keep]
        # Rank the survivors by their distance measured directly, in chunks of about
        # a million numbers, then by index.
        exact = np.empty(len(rows))
        chunk = max(1, 1_000_000 // database.shape[1])
        for first in range(0, len(rows), chunk):
            part = slice(first, first + chunk)
            exact[part] = np.square(database[columns[part]] - batch[rows[part]]).sum(axis=1)
        order = np.lexsort((columns, exact, rows))
        rows, columns = rows[order], columns[order]
        starts = np.searchsorted(rows, np.arange(len(batch)))
        found[start : start + len(batch)] = columns[starts[:, None] + np.arange(k)]
    return found


def precision_at_k(neighbours: object, query_labels: object, database_labels: object) -> float:
    """The fraction of retrieved neighbours that share their query's label.

    Args:
        neighbours: Database indices, shape ``(n, k)``, e.g. from
            :func:`nearest_neighbours`.
        query_labels: Labels of the ``n`` queries.
        database_labels: Labels of the database rows.

    Returns:
        The mean over queries and neighbours of ``label(neighbour) == label(query)``.
    """
    neighbours = np.asarray(neighbours)
    if (
        neighbours.ndim != 2
        or neighbours.size == 0
        or not np.issubdtype(neighbours.dtype, np.integer)
    ):
        raise ValueError(
            f"neighbours must be a non-empty (n, k) integer array; got shape "
            f"{neighbours.shape}, dtype {neighbours.dtype}."
        )
    query_labels = check_labels(query_labels, "query_labels", length=len(neighbours))
    database_labels = check_labels(database_labels, "database_labels")
    if neighbours.min() < 0 or neighbours.max() >= len(database_labels):
        raise ValueError(
            f"neighbours index a database of {len(database_labels)} rows; got indices "
            f"from {neighbours.min()} to {neighbours.max()}."
        )
    return float(np.mean(database_labels[neighbours] == query_labels[:, None]))
