"""The ladder's books (sans-I/O): which tier served each interaction, what
it cost, and the contact-center figures of a period.

Events in (time, fields) as the event log holds them, a report out; no
I/O, so the report's rules are tested on generated journeys with known
answers. ``docs/reports.md`` is the reference for the rules:

- an interaction is the events of one ``visit``, or else of one ``call``;
  its tier is the highest rung that served it (self-service < ivr <
  callback < agent < tollfree); a call abandoned in the queue keeps the
  tier below and counts as abandoned;
- a period holds the interactions whose *first* event falls in it; the
  caller feeds events from a lead-in before the period (to recognise
  interactions that started earlier) to a tail after it (to see calls
  started near the end finish);
- callback outcomes come days after their request, so they count in the
  period in which they happened.
"""

from __future__ import annotations

import enum
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Final

#: How far before and after a period the events are read.
LEAD_IN_S: Final = 2 * 3600
TAIL_S: Final = 2 * 3600
MAX_COST: Final = 100_000.0


class Tier(enum.StrEnum):
    SELF_SERVICE = "self-service"
    IVR = "ivr"
    CALLBACK = "callback"
    AGENT = "agent"
    TOLLFREE = "tollfree"


#: The ladder, cheapest first.
TIERS: Final = tuple(Tier)
_RANK: Final = {tier: rank for rank, tier in enumerate(TIERS)}
#: The tier an event's kind shows the interaction reached.
_REACHES: Final = {
    "faq.viewed": Tier.SELF_SERVICE,
    "ivr.node": Tier.IVR,
    "ivr.offer": Tier.IVR,
    "callback.requested": Tier.CALLBACK,
    "answered": Tier.AGENT,
    "tollfree": Tier.TOLLFREE,
}
DEFAULT_COSTS: Final = {
    Tier.SELF_SERVICE: 0.25,
    Tier.IVR: 0.75,
    Tier.CALLBACK: 4.0,
    Tier.AGENT: 6.0,
    Tier.TOLLFREE: 25.0,
}


class CostError(ValueError):
    """Costs an operator sent that cannot be used; says which and why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True, slots=True)
class Costs:
    """The cost of one interaction at each tier, in `currency`."""

    tiers: Mapping[Tier, float] = field(default_factory=lambda: dict(DEFAULT_COSTS))
    currency: str = "USD"

    @classmethod
    def parse(cls, raw: Any) -> Costs:
        """Costs from the API's JSON; :class:`CostError` names the bad part."""
        if not isinstance(raw, dict):
            raise CostError("", "send an object with currency and tiers")
        unknown = set(raw) - {"currency", "tiers"}
        if unknown:
            raise CostError(min(unknown), f"unknown field {min(unknown)!r}")
        currency = raw.get("currency", "USD")
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isascii()
            and currency.isupper()
        ):
            raise CostError("currency", "currency is a three-letter code, like USD")
        tiers = raw.get("tiers")
        if not isinstance(tiers, dict):
            raise CostError("tiers", "tiers is an object: tier id -> cost")
        for name in tiers:
            if name not in _RANK:
                raise CostError(f"tiers.{name}", f"no tier is called {name!r}")
        costs: dict[Tier, float] = {}
        for tier in TIERS:
            value = tiers.get(tier.value)
            where = f"tiers.{tier.value}"
            if value is None:
                raise CostError(where, f"the cost of the {tier.value} tier is missing")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CostError(where, f"the cost of {tier.value} must be a number")
            if not math.isfinite(value) or not 0 <= value <= MAX_COST:
                raise CostError(
                    where, f"the cost of {tier.value} must be from 0 to {MAX_COST:,.0f}"
                )
            costs[tier] = float(value)
        return cls(costs, currency)

    def as_json(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "tiers": {tier.value: self.tiers[tier] for tier in TIERS},
        }


@dataclass(slots=True)
class _Call:
    last_node: tuple[str, str] | None = None
    queued: bool = False
    answered: bool = False
    left_menu: bool = False  # queued or put through: not an exit


@dataclass(slots=True)
class _Interaction:
    started: float
    # A call that no tier served (left in the queue of a line without a
    # menu) still was an interaction: the cheapest tier's.
    tier: Tier = Tier.SELF_SERVICE
    abandoned: bool = False
    calls: dict[str, _Call] = field(default_factory=dict)
    channel: str = ""
    last: float = 0.0
    tollfree_reason: str = ""

    def reach(self, tier: Tier) -> None:
        if _RANK[tier] > _RANK[self.tier]:
            self.tier = tier


@dataclass(slots=True)
class _NodeFigures:
    visits: int = 0
    exits: int = 0
    escalations: int = 0


class Books:
    """Folds a period's events into its report. Feed every event from
    ``start - LEAD_IN_S`` to ``end + TAIL_S`` in time order, then call
    :meth:`report`."""

    def __init__(
        self,
        start: float,
        end: float,
        *,
        service_level_s: float = 20.0,
        bucket: str = "hour",
        zone: tzinfo = UTC,
    ) -> None:
        if bucket not in ("hour", "day"):
            raise ValueError(f"bucket is hour or day, not {bucket!r}")
        self.start, self.end = start, end
        self.service_level_s = service_level_s
        self.bucket = bucket
        self.zone = zone
        self._open: dict[str, _Interaction | None] = {}
        self._nodes: defaultdict[tuple[str, str], _NodeFigures] = defaultdict(
            _NodeFigures
        )
        self._waits: list[float] = []
        self._queued = 0
        self._abandoned_waits: list[float] = []
        self._tollfree: Counter[str] = Counter()
        self._callbacks: Counter[str] = Counter()

    def add(self, at: float, event: Mapping[str, str]) -> None:
        """One event of the log, at time `at` (seconds)."""
        kind = event.get("kind", "")
        if kind == "callback.done":
            if self.start <= at < self.end:
                self._callbacks[event.get("detail", "")] += 1
            return
        key = event.get("visit") or event.get("call")
        if not key:
            return
        if key not in self._open:
            # Started before the period or after it: seen, never counted.
            inside = self.start <= at < self.end
            self._open[key] = _Interaction(at) if inside else None
        interaction = self._open[key]
        if interaction is None:
            return
        interaction.last = at
        if not interaction.channel:
            interaction.channel = event.get("channel", "")
        if kind == "tollfree":
            interaction.tollfree_reason = event.get("reason", "")
        if kind in _REACHES and not (kind == "answered" and not event.get("agent")):
            interaction.reach(_REACHES[kind])
        if kind == "callback.requested":
            self._callbacks["requested"] += 1
        call_id = event.get("call", "")
        if call_id:
            call = interaction.calls.setdefault(call_id, _Call())
            self._call_event(interaction, call, kind, event)

    def _call_event(
        self,
        interaction: _Interaction,
        call: _Call,
        kind: str,
        event: Mapping[str, str],
    ) -> None:
        if kind == "ivr.node":
            place = (_menu_id(event.get("menu", "")), event.get("node", ""))
            self._nodes[place].visits += 1
            call.last_node = place
        elif kind in ("queued", "tollfree"):
            if call.last_node is not None and not call.left_menu:
                self._nodes[call.last_node].escalations += 1
            call.left_menu = True
            if kind == "queued" and not call.queued:
                self._queued += 1
                call.queued = True
            if kind == "tollfree":
                self._tollfree[event.get("reason") or "unknown"] += 1
        elif kind == "answered" and event.get("agent") and not call.answered:
            call.answered = True
            self._waits.append(_seconds(event.get("wait_ms")))
        elif kind == "abandoned":
            if event.get("wait_ms") and call.queued:
                interaction.abandoned = True
                self._abandoned_waits.append(_seconds(event.get("wait_ms")))
            elif call.last_node is not None and not call.left_menu:
                self._nodes[call.last_node].exits += 1
                call.left_menu = True
        elif kind == "ended" and call.last_node is not None and not call.left_menu:
            self._nodes[call.last_node].exits += 1
            call.left_menu = True

    def report(self, costs: Costs) -> dict[str, Any]:
        """The period's figures, as ``GET /api/reports`` answers them."""
        counted = [i for i in self._open.values() if i is not None]
        per_tier = Counter(i.tier for i in counted)
        total = len(counted)
        price = costs.tiers
        cost = sum(price[tier] * n for tier, n in per_tier.items() if tier)
        baseline = total * price[Tier.TOLLFREE]
        deflected = sum(
            1
            for i in counted
            if i.tier in (Tier.SELF_SERVICE, Tier.IVR) and not i.abandoned
        )
        threshold = self.service_level_s
        in_time = sum(1 for wait in self._waits if wait <= threshold)
        late_abandons = sum(1 for wait in self._abandoned_waits if wait > threshold)
        answered, abandoned = len(self._waits), len(self._abandoned_waits)
        reached, failed = self._callbacks["reached"], self._callbacks["failed"]
        return {
            "service_level_s": threshold,
            "currency": costs.currency,
            "interactions": total,
            "tiers": {
                tier.value: {
                    "count": per_tier[tier],
                    "cost": _money(price[tier] * per_tier[tier]),
                }
                for tier in TIERS
            },
            "cost": _money(cost),
            "baseline": _money(baseline),
            "savings": _money(baseline - cost),
            "deflection_rate": _ratio(deflected, total),
            "abandonment_rate": _ratio(abandoned, self._queued),
            "asa_s": _ratio(sum(self._waits), answered, digits=1),
            "service_level": _ratio(in_time, answered + late_abandons),
            "queued": self._queued,
            "answered": answered,
            "abandoned": abandoned,
            "callbacks": {
                "requested": self._callbacks["requested"],
                "reached": reached,
                "failed": failed,
                "cancelled": self._callbacks["cancelled"],
                "success_rate": _ratio(reached, reached + failed),
            },
            "tollfree": {
                "count": sum(self._tollfree.values()),
                "reasons": dict(sorted(self._tollfree.items())),
            },
            "nodes": [
                {
                    "menu": menu,
                    "node": node,
                    "visits": figures.visits,
                    "exits": figures.exits,
                    "escalations": figures.escalations,
                }
                for (menu, node), figures in sorted(self._nodes.items())
            ],
            "series": self._series(counted, price),
        }

    def interactions(self, costs: Costs, limit: int = 200) -> list[dict[str, Any]]:
        """The period's interactions, newest first: each one's tier and cost."""
        keyed = [(key, i) for key, i in self._open.items() if i is not None]
        keyed.sort(key=lambda pair: pair[1].started, reverse=True)
        rows = []
        for key, interaction in keyed[:limit]:
            tier = interaction.tier
            rows.append(
                {
                    "id": key,
                    "started": datetime.fromtimestamp(
                        interaction.started, self.zone
                    ).isoformat(),
                    "duration_s": round(interaction.last - interaction.started, 1),
                    # Only a page's FAQ views have no call.
                    "channel": interaction.channel
                    or ("" if interaction.calls else "web"),
                    "tier": tier.value,
                    "cost": _money(costs.tiers[tier]),
                    "abandoned": interaction.abandoned,
                    "calls": list(interaction.calls),
                    "tollfree_reason": interaction.tollfree_reason,
                }
            )
        return rows

    def _series(
        self, counted: list[_Interaction], price: Mapping[Tier, float]
    ) -> list[dict[str, Any]]:
        # Keyed by the bucket's instant: two wall-clock hours can look alike
        # on the night a DST change repeats one.
        buckets: dict[float, Counter[Tier]] = {}
        at = self._bucket_start(self.start)
        while at < self.end:
            buckets[at] = Counter()
            at = self._next_bucket(at)
        for interaction in counted:
            start = self._bucket_start(interaction.started)
            if start in buckets:
                buckets[start][interaction.tier] += 1
        series = []
        for start, tiers in buckets.items():
            n = sum(tiers.values())
            series.append(
                {
                    "start": datetime.fromtimestamp(start, self.zone).isoformat(),
                    "tiers": {tier.value: tiers[tier] for tier in TIERS},
                    "cost": _money(sum(price[t] * c for t, c in tiers.items())),
                    "baseline": _money(n * price[Tier.TOLLFREE]),
                }
            )
        return series

    def _bucket_start(self, at: float) -> float:
        local = datetime.fromtimestamp(at, self.zone)
        local = local.replace(minute=0, second=0, microsecond=0)
        if self.bucket == "day":
            local = local.replace(hour=0)
        return local.timestamp()

    def _next_bucket(self, at: float) -> float:
        if self.bucket == "hour":
            return self._bucket_start(at + 3600)
        # The next local midnight: a day with a DST change is 23 or 25
        # hours long and still one bucket.
        local = datetime.fromtimestamp(at, self.zone)
        tomorrow = datetime.combine(
            local.date() + timedelta(days=1), time(), tzinfo=self.zone
        )
        return tomorrow.timestamp()


def _menu_id(menu: str) -> str:
    return menu.partition("@")[0]


def _seconds(ms: str | None) -> float:
    try:
        return max(0.0, int(ms or 0) / 1000)
    except ValueError:
        return 0.0


def _money(value: float) -> float:
    return round(value + 0.0, 2)


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None
