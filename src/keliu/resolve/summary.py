"""The counting semantics of visits, defined once (docs/visitors.md): what each headline number counts.

Reports filter visits by time first (by ``first_entry`` in the site's local time) and then count
them with ``summarize``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from keliu.domain.visits import PersonCategory, Visit

__all__ = ["TrafficSummary", "summarize"]


@dataclass(frozen=True)
class TrafficSummary:
    total: int  # 总客流 (person-times): entries of customer visits
    deduplicated: int  # 去重客流 (persons): customer visits
    new: int  # 新客: customer visits not matched to an earlier visit
    returning: int  # 回头客: customer visits matched to an earlier one within the memory
    batches: int  # 批次: arrival groups with at least one customer (a single customer is a batch)
    excluded: dict[str, int]  # visits not counted, by exclusion reason ("staff:…", "courier:…", …)


def summarize(visits: Iterable[Visit]) -> TrafficSummary:
    """Count visits. The same ``visit_id`` given twice (upserts) counts once, as its last version."""
    latest = {v.visit_id: v for v in visits}
    customers = [v for v in latest.values() if v.category == PersonCategory.CUSTOMER]
    excluded: dict[str, int] = {}
    for v in sorted(latest.values(), key=lambda v: v.visit_id):
        if v.category != PersonCategory.CUSTOMER:
            reason = v.exclusion.reason if v.exclusion is not None else str(v.category)
            excluded[reason] = excluded.get(reason, 0) + 1
    return TrafficSummary(
        total=sum(len(v.entries) for v in customers),
        deduplicated=len(customers),
        new=sum(1 for v in customers if not v.returning),
        returning=sum(1 for v in customers if v.returning),
        batches=len({v.batch_id if v.batch_id is not None else v.visit_id for v in customers}),
        excluded=dict(sorted(excluded.items())),
    )
