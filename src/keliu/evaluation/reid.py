"""Re-identification metrics: rank-1 and mean average precision over a within-group gallery.

The protocol (docs/signatures.md): within each group (a sequence), every sample in turn is a query
and the gallery is every *other* sample of the same group; a gallery sample is a true match when it
has the query's identity. Samples are ranked by dot product of their unit vectors (cosine
similarity), ties broken by gallery order. A query with no true match in its gallery is skipped
(reported as ``skipped``). Rank-1 is the share of queries whose best-ranked gallery sample is a true
match; AP is the mean of the precisions at the rank of each true match, and mAP the mean AP over
queries.

The multi-shot variant (`evaluate_multishot_gallery`) keeps single-sample queries but gives the
gallery one entry per identity of the group, built by the caller from up to ``shots`` of that
identity's samples (never the query itself), as a track's signature is built from its best shots.

Pure numpy: it judges vectors, it does not compute them (the benchmark and the tests do).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "ReidScore",
    "average_precision",
    "evaluate_groups",
    "evaluate_multishot_gallery",
    "evaluate_ranking",
    "rank_gallery",
    "summarise",
]


@dataclass(frozen=True)
class ReidScore:
    """Rank-1 and mAP averaged over ``queries`` queries (``skipped`` had no true match)."""

    rank1: float
    mean_ap: float
    queries: int
    skipped: int = 0


def rank_gallery(query: npt.ArrayLike, gallery: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """Gallery row indices from most to least similar to ``query`` (dot product; stable on ties)."""
    scores = np.asarray(gallery, dtype=np.float64) @ np.asarray(query, dtype=np.float64)
    return np.argsort(-scores, kind="stable")


def average_precision(matches_in_rank_order: npt.ArrayLike) -> float:
    """AP of one ranked list given as booleans (True: a true match at that rank); 0.0 if none."""
    hits = np.asarray(matches_in_rank_order, dtype=bool)
    n_true = int(hits.sum())
    if n_true == 0:
        return 0.0
    ranks = np.flatnonzero(hits) + 1  # 1-based rank of each true match
    precision_at_hits = np.arange(1, n_true + 1) / ranks
    return float(precision_at_hits.mean())


def evaluate_ranking(
    query_vectors: npt.ArrayLike,
    query_ids: Sequence[object],
    gallery_vectors: npt.ArrayLike,
    gallery_ids: Sequence[object],
    *,
    exclude: Sequence[Sequence[int]] | None = None,
) -> tuple[list[bool], list[float], int]:
    """Rank-1 hits and APs of each query against one gallery.

    ``exclude[i]`` lists gallery rows that query ``i`` must not see (e.g. itself). Returns the
    per-query rank-1 hits and APs of the queries that have at least one true match, and how many
    were skipped for having none.
    """
    q = np.asarray(query_vectors, dtype=np.float64)
    g = np.asarray(gallery_vectors, dtype=np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery must be N×D and M×D, got {q.shape} and {g.shape}")
    if len(query_ids) != q.shape[0] or len(gallery_ids) != g.shape[0]:
        raise ValueError("one identity per query and per gallery row is required")
    gids = np.asarray(list(gallery_ids), dtype=object)
    hits: list[bool] = []
    aps: list[float] = []
    skipped = 0
    for i, (vec, qid) in enumerate(zip(q, query_ids, strict=True)):
        keep = np.ones(g.shape[0], dtype=bool)
        if exclude is not None:
            keep[list(exclude[i])] = False
        rows = np.flatnonzero(keep)
        order = rows[rank_gallery(vec, g[rows])]
        matches = gids[order] == qid
        if not matches.any():
            skipped += 1
            continue
        hits.append(bool(matches[0]))
        aps.append(average_precision(matches))
    return hits, aps, skipped


def summarise(hits: Sequence[bool], aps: Sequence[float], skipped: int = 0) -> ReidScore:
    """Average per-query rank-1 hits and APs into one score (zeros when there is no query)."""
    if len(hits) != len(aps):
        raise ValueError("one AP per rank-1 hit is required")
    if not hits:
        return ReidScore(rank1=0.0, mean_ap=0.0, queries=0, skipped=skipped)
    return ReidScore(
        rank1=float(np.mean(hits)), mean_ap=float(np.mean(aps)), queries=len(hits), skipped=skipped
    )


def evaluate_groups(vectors: npt.ArrayLike, ids: Sequence[object], groups: Sequence[object]) -> ReidScore:
    """The benchmark protocol: within each group, each sample queries all other samples of its group."""
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != len(ids) or len(ids) != len(groups):
        raise ValueError("vectors must be N×D with one identity and one group per row")
    group_arr = np.asarray(list(groups), dtype=object)
    id_arr = np.asarray(list(ids), dtype=object)
    all_hits: list[bool] = []
    all_aps: list[float] = []
    skipped = 0
    for group in dict.fromkeys(groups):
        rows = np.flatnonzero(group_arr == group)
        members = v[rows]
        member_ids = list(id_arr[rows])
        hits, aps, skip = evaluate_ranking(
            members, member_ids, members, member_ids, exclude=[[i] for i in range(len(rows))]
        )
        all_hits += hits
        all_aps += aps
        skipped += skip
    return summarise(all_hits, all_aps, skipped)


def evaluate_multishot_gallery(
    query_vectors: npt.ArrayLike,
    ids: Sequence[object],
    groups: Sequence[object],
    gallery_vector: Callable[[tuple[int, ...]], npt.ArrayLike],
    *,
    shots: int = 5,
) -> ReidScore:
    """Single-sample queries against one gallery entry per identity of the query's group.

    The entry of an identity is ``gallery_vector(rows)`` for the first ``shots`` of its rows (in
    the given order), leaving out the query's own row; an identity with no row left has no entry.
    """
    q = np.asarray(query_vectors, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != len(ids) or len(ids) != len(groups):
        raise ValueError("query vectors must be N×D with one identity and one group per row")
    if shots < 1:
        raise ValueError("shots must be at least 1")
    members: dict[object, dict[object, list[int]]] = {}
    for row, (pid, group) in enumerate(zip(ids, groups, strict=True)):
        members.setdefault(group, {}).setdefault(pid, []).append(row)
    cache: dict[tuple[int, ...], npt.NDArray[np.float64]] = {}

    def entry(rows: tuple[int, ...]) -> npt.NDArray[np.float64]:
        if rows not in cache:
            cache[rows] = np.asarray(gallery_vector(rows), dtype=np.float64)
        return cache[rows]

    hits: list[bool] = []
    aps: list[float] = []
    skipped = 0
    for i, (qid, group) in enumerate(zip(ids, groups, strict=True)):
        gallery_ids: list[object] = []
        gallery: list[npt.NDArray[np.float64]] = []
        for pid, rows in members[group].items():
            chosen = tuple(r for r in rows if r != i)[:shots]
            if chosen:
                gallery_ids.append(pid)
                gallery.append(entry(chosen))
        if not gallery:
            skipped += 1
            continue
        h, a, s = evaluate_ranking(q[i : i + 1], [qid], np.stack(gallery), gallery_ids)
        hits += h
        aps += a
        skipped += s
    return summarise(hits, aps, skipped)
