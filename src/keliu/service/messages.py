"""消息规则 evaluation (REQUIREMENTS O4): every minute, what each enabled message rule of every site
measures now, and a 消息 message — stored, then pushed as an ``alert`` event to live streams and
webhooks — when it crosses its threshold, at most once per period.

    checker = MessageChecker(store, pusher).start()   # the service runtime owns one
    checker.evaluate(now)                              # one pass (tests call this with their `now`)
    checker.stop()

What a kind measures (``keliu.store.messages`` defines the kinds), from cheap queries only:

* ``occupancy``: distinct customer visits with an open zone stay at ``now`` (实时驻留人数, the same
  stays as ``keliu.analytics.queries.occupancy``; a site without zones has none); period: the
  local hour.
* ``hourly_entries``: entries (总客流) of the local hour containing ``now``, from the hourly rollup
  (``queries.traffic_between``: today up to the end of this hour, less today up to its start);
  period: the local hour.
* ``traffic_change``: today's entries so far (this hour in full: nothing after ``now`` exists) against
  the previous day, the same weekday last week or the same date last month up to the same time (that
  period's current hour pro rata, as the home page's brief compares), judged once the previous
  figure is at least ``min_count``; period: the local day.

A message's ``text`` is one line in Chinese and English (receivers show it as is); its ``details``
hold the figures (the web UI words them in the user's language). Its id is the webhook event id.
The alert's ``kind`` is the rule's kind.

Must not define metrics: the figures come from ``keliu.analytics`` and the store.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from keliu.analytics import metrics as m
from keliu.analytics import queries
from keliu.service.push import alert_data
from keliu.service.push_bridge import Pusher
from keliu.store import Store
from keliu.store.messages import Message, MessageRule
from keliu.store.rollups import floor_local_hour, local_midnight, next_local_hour

__all__ = ["CHECK_EVERY_S", "RETENTION", "MessageChecker", "Reading", "measure"]

log = logging.getLogger(__name__)

CHECK_EVERY_S: Final = 60.0
RETENTION: Final = timedelta(days=180)  # messages older than this are deleted (once an hour)
_PURGE_EVERY = timedelta(hours=1)

_COMPARE_ZH = {"day": "昨日同期", "week": "上周同期", "month": "上月同期"}
_COMPARE_EN = {
    "day": "the same time yesterday",
    "week": "the same time last week",
    "month": "the same time last month",
}


@dataclass(frozen=True)
class Reading:
    """What a rule measured at a moment: the figure, the period it belongs to, whether it crosses the
    threshold and, if so, the message's text and figures."""

    value: float
    period: str
    fires: bool
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _num(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def _hour_key(local: datetime) -> str:
    return local.strftime("%Y-%m-%dT%H")


def measure(store: Store, rule: MessageRule, now: datetime, tz: ZoneInfo) -> Reading:
    """What ``rule`` (of a site in time zone ``tz``) measures at ``now`` (module docstring)."""
    local = now.astimezone(tz)
    base: dict[str, Any] = {
        "rule_id": rule.rule_id,
        "rule_name": rule.name,
        "kind": rule.kind,
        "threshold": rule.threshold,
    }
    if rule.kind == "occupancy":
        stays = store.open_zone_stays(rule.site_id, now)
        zones: dict[str, set[str]] = defaultdict(set)
        for s in stays:
            zones[s.zone_id].add(s.visit_id)
        value = float(len({s.visit_id for s in stays}))
        period = _hour_key(local)
        top = sorted(((z, len(v)) for z, v in zones.items()), key=lambda x: (-x[1], x[0]))[:5]
        text = (
            f"实时驻留 {_num(value)} 人，超过 {_num(rule.threshold)} 人 · "
            f"{_num(value)} customers present now, above {_num(rule.threshold)}"
        )
        details = {**base, "value": value, "period": period, "zones": dict(top)}
        return Reading(value, period, value > rule.threshold, text, details)

    midnight = local_midnight(local.date(), tz)
    hour = floor_local_hour(now, tz)
    hour_end = next_local_hour(hour, tz)
    so_far = queries.traffic_between(store, rule.site_id, midnight, hour_end).entries
    if rule.kind == "hourly_entries":
        before = (
            queries.traffic_between(store, rule.site_id, midnight, hour).entries if hour > midnight else 0
        )
        value = float(round(so_far - before))
        hh = hour.astimezone(tz).strftime("%H:00")
        period = _hour_key(local)
        text = (
            f"{hh} 起本小时进店 {_num(value)} 人次，超过 {_num(rule.threshold)} · "
            f"{_num(value)} entries in the hour from {hh}, above {_num(rule.threshold)}"
        )
        details = {**base, "value": value, "period": period, "hour": hh}
        return Reading(value, period, value > rule.threshold, text, details)

    # traffic_change
    compare = rule.compare or "day"
    window = m.same_elapsed_window(compare, midnight.astimezone(tz), local)
    previous = queries.traffic_between(
        store, rule.site_id, window.previous_start, window.previous_end
    ).entries
    current = float(round(so_far))
    period = local.date().isoformat()
    change = m.change(current, previous)
    min_count = rule.min_count or 1
    fires = False
    pct = None if change is None else change * 100.0
    if pct is not None and previous >= min_count:
        direction = rule.direction or "both"
        moved = pct if direction == "up" else -pct if direction == "down" else abs(pct)
        fires = moved > rule.threshold
    until = local.strftime("%H:%M")
    shown = "–" if pct is None else f"{pct:+.1f} %"
    text = (
        f"今日截至 {until} 进店 {_num(current)} 人次，较{_COMPARE_ZH[compare]} {round(previous)} "
        f"变化 {shown}，超过 ±{_num(rule.threshold)} % · Entries today until {until}: "
        f"{_num(current)}, {shown} against {round(previous)} {_COMPARE_EN[compare]} "
        f"(threshold {_num(rule.threshold)} %)"
    )
    details = {
        **base,
        "value": current,
        "previous": round(previous, 1),
        "change_pct": None if pct is None else round(pct, 1),
        "compare": compare,
        "direction": rule.direction,
        "min_count": rule.min_count,
        "until": until,
        "period": period,
    }
    return Reading(current, period, fires, text, details)


class MessageChecker:
    """Evaluates every enabled rule every ``interval_s`` in a thread of its own (module docstring);
    a failing rule is logged and counted, the others go on."""

    def __init__(
        self,
        store: Store,
        pusher: Pusher | None,
        *,
        interval_s: float = CHECK_EVERY_S,
        first_s: float = 5.0,
        retention: timedelta = RETENTION,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.pusher = pusher
        self.interval_s = interval_s
        self.first_s = first_s
        self.retention = retention
        self.clock = clock
        self.errors = 0
        self.fired = 0
        self.passes = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._purged_at: datetime | None = None

    def start(self) -> MessageChecker:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="keliu-message-rules", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the pass under way, if any."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        delay = self.first_s
        while not self._stopping.wait(delay):
            delay = self.interval_s
            try:
                self.evaluate(self.clock())
            except Exception:  # the store is down, say: try again at the next pass
                self.errors += 1
                log.exception("message rules: the evaluation failed; trying again in %.0f s", delay)

    def evaluate(self, now: datetime, rules: Iterable[MessageRule] | None = None) -> list[Message]:
        """One pass at ``now`` over ``rules`` (default: every enabled rule of the store): store and push
        a message for each rule that crosses its threshold and has not fired in the period yet.
        Returns the messages fired."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        self.passes += 1
        fired: list[Message] = []
        zones: dict[str, ZoneInfo] = {}
        for rule in self.store.enabled_message_rules() if rules is None else rules:
            if self._stopping.is_set() and self._thread is not None:
                break
            try:
                tz = zones.get(rule.site_id)
                if tz is None:
                    tz = zones[rule.site_id] = ZoneInfo(self.store.site(rule.site_id).timezone)
                reading = measure(self.store, rule, now, tz)
                if not reading.fires or rule.last_period == reading.period:
                    continue
                message = self.store.fire_message(rule, reading.period, reading.text, reading.details, at=now)
            except Exception:
                self.errors += 1
                log.exception("message rule %s of site %s not evaluated", rule.rule_id, rule.site_id)
                continue
            if message is None:  # fired in this period already, or switched off meanwhile
                continue
            fired.append(message)
            self.fired += 1
            self._push(message)
        self._purge(now)
        return fired

    def _push(self, message: Message) -> None:
        if self.pusher is None:
            return
        details = {**message.details, "message_id": message.message_id}
        self.pusher.push(
            message.site_id,
            "alert",
            alert_data(message.kind, message.text, severity=message.severity, details=details),
            occurred_at=message.at,
            event_id=message.message_id,
        )

    def _purge(self, now: datetime) -> None:
        if self._purged_at is not None and now - self._purged_at < _PURGE_EVERY:
            return
        self._purged_at = now
        try:
            removed = self.store.purge_messages(now - self.retention)
        except Exception:
            self.errors += 1
            log.exception("message rules: old messages not purged")
            return
        if removed:
            log.info("message rules: %d messages older than %s removed", removed, self.retention)
