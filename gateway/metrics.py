"""Prometheus metrics of one Helpline process, served at ``/metrics``.

Each process has its own registry; with several web workers, a scrape
reaches one of them. Queue and agent gauges are read from Redis at scrape
time, so they are the same from any worker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sockets = Gauge(
            "helpline_ws_sockets", "Open signaling sockets", registry=r
        )
        self.requests = Counter(
            "helpline_ws_requests_total",
            "Signaling requests handled, by type",
            ["type"],
            registry=r,
        )
        self.errors = Counter(
            "helpline_ws_errors_total",
            "Error events sent to clients, by code",
            ["code"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "helpline_ws_request_seconds",
            "Time to handle one signaling request",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
            registry=r,
        )
        self.call_states = Counter(
            "helpline_call_transitions_total",
            "Call state changes, by new state",
            ["state"],
            registry=r,
        )
        self.queue_length = Gauge(
            "helpline_queue_length", "Calls waiting for an agent", registry=r
        )
        self.agents = Gauge(
            "helpline_agents", "Agents signed in, by status", ["status"], registry=r
        )
        self.sip_events = Gauge(
            "helpline_sip_events_total",
            "SIP events over every media worker since Redis was emptied: calls "
            "answered, refused:<code>, ended:<code>, dtmf:<method>, "
            "tollfree:<outcome>",
            ["event"],
            registry=r,
        )
        self.sip_worker_calls = Gauge(
            "helpline_sip_worker_calls",
            "Calls a media worker holds",
            ["worker"],
            registry=r,
        )
        self.sip_worker_limit = Gauge(
            "helpline_sip_worker_limit",
            "Calls a media worker can hold (probed at its start)",
            ["worker"],
            registry=r,
        )
        self.callbacks = Gauge(
            "helpline_callbacks_waiting",
            "Callbacks waiting to be called back: due now, or upcoming",
            ["when"],
            registry=r,
        )
        # The contact-center figures, from the event log at scrape time,
        # for the last hour and for today (the calendar's time zone).
        window = ["window"]
        self.service_level = Gauge(
            "helpline_service_level_ratio",
            "Calls answered within the service level threshold / (answered + "
            "abandoned after it); NaN with no calls",
            window,
            registry=r,
        )
        self.asa = Gauge(
            "helpline_asa_seconds", "Average speed of answer", window, registry=r
        )
        self.abandonment = Gauge(
            "helpline_abandonment_ratio",
            "Calls abandoned in the queue or ringing / calls queued",
            window,
            registry=r,
        )
        self.deflection = Gauge(
            "helpline_deflection_ratio",
            "Interactions resolved by self-service or the IVR / all",
            window,
            registry=r,
        )
        self.interactions = Gauge(
            "helpline_interactions",
            "Interactions by the tier that served them",
            ["window", "tier"],
            registry=r,
        )
        self.cost = Gauge(
            "helpline_cost_dollars",
            "What the interactions cost at the operators' cost per tier",
            window,
            registry=r,
        )
        self.savings = Gauge(
            "helpline_savings_dollars",
            "What the interactions would have cost at the toll-free line, "
            "less what they cost",
            window,
            registry=r,
        )
        self.events_dropped = Gauge(
            "helpline_events_dropped",
            "Event log entries this process dropped (its buffer was full "
            "while Redis was down)",
            registry=r,
        )
        self.redis_up = Gauge(
            "helpline_redis_up", "1 when Redis answered the last check", registry=r
        )
