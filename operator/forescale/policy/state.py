"""What the policy remembers between decisions, serialisable to JSON.

The operator persists this in the LLMDeployment's status between reconciliations and
restarts, so the learned capacity, cold-start time and forecaster survive an operator
upgrade. Everything is plain numbers and lists; ``from_dict(to_dict(s)) == s`` holds, and
``from_dict`` rejects malformed input with a ``ValueError`` so that a hand-edited or
truncated annotation makes the operator start fresh rather than act on garbage.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from forescale.policy.envelope import EnvelopeState, amount
from forescale.policy.forecasting import ForecasterState
from forescale.policy.season import SeasonState

#: State format version; bump when a field's meaning changes (2: the burst envelope;
#: 3: its window count; 4: arrival_history holds arrival rates and remembered peaks).
STATE_VERSION = 4
#: How many observed pod start times the horizon is learned from.
STARTUP_SAMPLES = 16


@dataclass(frozen=True)
class PolicyState:
    """Learned quantities and the short histories the guards need."""

    forecaster: ForecasterState = field(default_factory=ForecasterState)
    envelope: EnvelopeState = field(default_factory=EnvelopeState)
    """Learned peak-to-base ratios over the horizon (see ``envelope``)."""
    floor_envelope: EnvelopeState = field(default_factory=EnvelopeState)
    """The same, from the windows alone that opened while the forecast ran below the floor
    (``deciding._floor``), against that forecast: a near-idle minute's headroom, which the
    busy minutes' ratios do not describe (``deciding._envelope_for``)."""
    season: SeasonState = field(default_factory=SeasonState)
    """Mean arrival rate per slot of the last cycles of the traffic's period (``season``)."""
    last_observation_at: float | None = None
    first_observation_at: float | None = None
    """When this state first saw data: no scale-down before one horizon of history."""
    last_arrival_rate: float | None = None
    arrival_history: tuple[tuple[float, float, float], ...] = ()
    """(observation time, arrival rate, remembered peak then) over the last horizon: the
    Poisson prior's mean rate, and the bound's rise above the peak a horizon ago."""
    noise_history: tuple[tuple[float, float], ...] = ()
    """(observation time, variance of one reading of the rate then) over the last horizon: a
    climb is judged against the noise measured before it began (``deciding``)."""
    remembered_peak: float | None = None
    """Highest arrival rate seen, decaying with the memory half-life: the plan's bound."""
    capacity_requests_per_second: float | None = None
    """Learned rate one replica serves within the SLO (requests/s): raised by load served
    within it, lowered by a saturated replica's throughput (``learning``)."""
    capacity_requests_work: float | None = None
    """Work per request (``learning.work_per_request``) of the mix at which a saturated
    replica last lowered ``capacity_requests_per_second`` (None: not lowered, or measured
    within the SLO since): a lighter mix raises it again (``learning._relaxed``)."""
    capacity_tokens_per_second: float | None = None
    """The same in generated tokens/s, at the context of the load test that seeded it
    (``learning.context_factor``)."""
    saturated_requests_per_second: float | None = None
    """Learned throughput of one saturated replica (requests/s): how fast it works off a
    queue it holds."""
    tokens_per_request: float | None = None
    """Smoothed generated tokens per request (converts a request forecast to tokens)."""
    prompt_tokens_per_request: float | None = None
    """Smoothed prompt tokens per request: with ``tokens_per_request`` the mix's context."""
    completion_rate: float | None = None
    """Smoothed completion rate (requests/s): the weight of ``tokens_per_request``."""
    saturated_since: float | None = None
    saturated_ready: int = 0
    queue_holders: int = 0
    """Replicas that were serving while the waiting queue grew, the most that hold it (0: no
    queue; ``deciding._queue_holders``)."""
    startup_seconds: tuple[float, ...] = ()
    recommendations: tuple[tuple[float, int], ...] = ()
    """(time, replicas) recommended within the scale-down stabilization window."""
    scale_ups: tuple[tuple[float, int], ...] = ()
    """(time, replicas added) within the scale-up period."""
    scale_downs: tuple[tuple[float, int], ...] = ()
    """(time, replicas removed) within the scale-down period."""

    def to_dict(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "forecaster": self.forecaster.to_dict(),
            "envelope": self.envelope.to_dict(),
            "floor_envelope": self.floor_envelope.to_dict(),
            "season": self.season.to_dict(),
            "last_observation_at": self.last_observation_at,
            "first_observation_at": self.first_observation_at,
            "last_arrival_rate": self.last_arrival_rate,
            "arrival_history": [list(entry) for entry in self.arrival_history],
            "noise_history": [list(entry) for entry in self.noise_history],
            "remembered_peak": self.remembered_peak,
            "capacity_requests_per_second": self.capacity_requests_per_second,
            "capacity_requests_work": self.capacity_requests_work,
            "capacity_tokens_per_second": self.capacity_tokens_per_second,
            "saturated_requests_per_second": self.saturated_requests_per_second,
            "tokens_per_request": self.tokens_per_request,
            "prompt_tokens_per_request": self.prompt_tokens_per_request,
            "completion_rate": self.completion_rate,
            "saturated_since": self.saturated_since,
            "saturated_ready": self.saturated_ready,
            "queue_holders": self.queue_holders,
            "startup_seconds": list(self.startup_seconds),
            "recommendations": [[t, n] for t, n in self.recommendations],
            "scale_ups": [[t, n] for t, n in self.scale_ups],
            "scale_downs": [[t, n] for t, n in self.scale_downs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> PolicyState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported policy state version {data.get('version')!r}")
        forecaster = data.get("forecaster")
        if not isinstance(forecaster, dict):
            raise ValueError("policy state has no forecaster")
        try:
            return cls(
                forecaster=ForecasterState.from_dict(forecaster),
                envelope=EnvelopeState.from_dict(data.get("envelope", {})),
                # Absent in states written before it existed: start empty (the shared
                # envelope serves the floor until this one has the evidence).
                floor_envelope=EnvelopeState.from_dict(data.get("floor_envelope", {})),
                # Absent in states written before the season existed: start empty.
                season=SeasonState.from_dict(data.get("season", {})),
                last_observation_at=_optional(data, "last_observation_at"),
                first_observation_at=_optional(data, "first_observation_at"),
                last_arrival_rate=_optional_amount(data, "last_arrival_rate"),
                # Absent in states written before the peak bound existed: start empty.
                arrival_history=_rates(data, "arrival_history"),
                # Absent in states written before it existed: start empty.
                noise_history=_times(data, "noise_history"),
                remembered_peak=_optional_amount(data, "remembered_peak"),
                capacity_requests_per_second=_optional_amount(data, "capacity_requests_per_second"),
                # Absent in states written before it existed: a lowered capacity stays low.
                capacity_requests_work=_optional_amount(data, "capacity_requests_work"),
                capacity_tokens_per_second=_optional_amount(data, "capacity_tokens_per_second"),
                saturated_requests_per_second=_optional_amount(
                    data, "saturated_requests_per_second"
                ),
                tokens_per_request=_optional_amount(data, "tokens_per_request"),
                # Absent in states written before it existed: learned again.
                prompt_tokens_per_request=_optional_amount(data, "prompt_tokens_per_request"),
                completion_rate=_optional_amount(data, "completion_rate"),
                saturated_since=_optional(data, "saturated_since"),
                saturated_ready=int(_amount(data, "saturated_ready")),
                # Absent in states written before it existed: no queue known.
                queue_holders=int(_optional_amount(data, "queue_holders") or 0),
                startup_seconds=tuple(
                    amount(v, "startup_seconds") for v in _floats(data, "startup_seconds")
                ),
                recommendations=_pairs(data, "recommendations"),
                scale_ups=_pairs(data, "scale_ups"),
                scale_downs=_pairs(data, "scale_downs"),
            )
        except KeyError as error:
            raise ValueError(f"policy state lacks {error}") from None


def _required(data: dict[str, object], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {value!r}")
    return float(value)


def _optional(data: dict[str, object], key: str) -> float | None:
    return None if data.get(key) is None else _required(data, key)


def _amount(data: dict[str, object], key: str) -> float:
    """A rate, count or duration (``envelope.amount``): a negative one was written by hand
    and would be acted on silently (a negative capacity fell back to the spec's, negative
    holders switched the backlog term off), so the state is refused."""
    return amount(_required(data, key), key)


def _optional_amount(data: dict[str, object], key: str) -> float | None:
    return None if data.get(key) is None else _amount(data, key)


def _floats(data: dict[str, object], key: str) -> list[float]:
    values = data[key]
    if not isinstance(values, list):
        raise ValueError(f"{key} must be a list")
    return [_required({key: v}, key) for v in values]


def _rows(
    data: dict[str, object], key: str, fields: tuple[str, ...]
) -> tuple[tuple[float, ...], ...]:
    """A list of equal-length number lists (absent: empty), each entry named by ``fields``
    in the error."""
    values = data.get(key, [])
    if not isinstance(values, list):
        raise ValueError(f"{key} must be a list")
    out = []
    for entry in values:
        if not isinstance(entry, list) or len(entry) != len(fields):
            raise ValueError(f"{key} entries must be [{', '.join(fields)}], got {entry!r}")
        # The first entry is the row's time; the rest are rates or variances.
        time, *amounts = (_required({key: v}, key) for v in entry)
        out.append((time, *(_amount({key: v}, key) for v in amounts)))
    return tuple(out)


def _rates(data: dict[str, object], key: str) -> tuple[tuple[float, float, float], ...]:
    return tuple((t, rate, peak) for t, rate, peak in _rows(data, key, ("time", "rate", "peak")))


def _times(data: dict[str, object], key: str) -> tuple[tuple[float, float], ...]:
    return tuple((t, value) for t, value in _rows(data, key, ("time", "value")))


def _pairs(data: dict[str, object], key: str) -> tuple[tuple[float, int], ...]:
    values = data[key]
    if not isinstance(values, list):
        raise ValueError(f"{key} must be a list")
    out = []
    for pair in values:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"{key} entries must be [time, replicas], got {pair!r}")
        out.append((_required({key: pair[0]}, key), int(_amount({key: pair[1]}, key))))
    return tuple(out)
