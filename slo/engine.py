"""The SLO engine's I/O edge: derives tasks, keeps the rollups, evaluates SLOs, writes their status.

Time comes in as `now`; nothing here reads the clock. A cycle is `catch_up`
(derive tasks, bring every SLO's rollups up to `now`), then `evaluate`, then
`write_status`; `run_cycle` runs the three. Each step is idempotent: a failed
cycle is simply run again.

    catch_up(storage, slos, now=datetime.now(UTC))
    statuses = evaluate(storage, slos, now)
    write_status(storage, statuses)

How far tasks are derived and each SLO rolled up is kept in the watermarks
table, so a cycle does only what is new, and catches up after downtime:

- tasks whose span ended in [through, now - grace) are derived, where
  `through` is where the previous cycle stopped: children exported up to
  `grace` after their task's span ended are counted;
- each SLO's new minutes, up to where its data is complete (`data_through`),
  are rolled up;
- an SLO that is new, or whose SLI's SQL changed (its fingerprint), is
  backfilled over everything its evaluation reads; so is an SLO whose window
  grew, over the part not yet rolled up.

Late data counts. A live cycle (the scheduler's) asks which spans were stored
since the previous one, by the server's clock (otel_traces.InsertedAt): the
tasks of their traces are derived again, and every minute in which a span or
a (re)derived task ends, if it was rolled up already, is rolled up again for
each SLO that reads it. So an SLI never depends on when its spans arrived,
within the lateness horizon (default a day): spans that end before it are
stored and shown, counted in `CatchUp.beyond_horizon_spans`, but in no SLI.
An evaluation as of another time (a backfill, a test) is not live: it never
moves the live schedule's marks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import orjson

from ground.storage import AGENT_TASKS, SLO_STATUS, TRACES, WATERMARKS, QueryResult, Storage
from slo._budget import EventCounts
from slo._durations import format_duration
from slo._evaluation import (
    DEFAULT_GRACE,
    SloStatus,
    burn_windows,
    data_through,
    earliest_read,
    occurrences_status,
    timeslices_status,
    window_bounds,
)
from slo._kinds import kind_of
from slo._model import SLO, Timeslices
from slo._spend import SpendBudget, SpendStatus
from slo._sql import (
    RollupRange,
    SliSql,
    Statement,
    compile_sli,
    derive_tasks_statements,
    rederive_stored_since_statements,
    rollup_insert,
    server_clock_query,
    slice_sums_query,
    spans_per_hour_query,
    spend_query,
    stored_since_query,
    task_spend_insert,
    task_spend_stale_days_query,
    waiting_tasks_query,
    window_sums_query,
)

__all__ = [
    "DEFAULT_LATENESS_HORIZON",
    "CatchUp",
    "WaitingTasks",
    "Watermark",
    "catch_up",
    "derive_tasks",
    "evaluate",
    "evaluate_spend",
    "latest_status_at",
    "read_watermarks",
    "run_cycle",
    "sync_rollups",
    "sync_task_spend",
    "sync_tasks",
    "waiting_tasks",
    "write_status",
]

# Spans arriving later than this after they ended are stored but counted in no
# SLI: re-counting them would re-open evaluations the alerts have long acted on.
DEFAULT_LATENESS_HORIZON = timedelta(days=1)

# A statement reads about this many spans at most, so that a backfill over
# months of a busy store holds a bounded part of them in memory at a time
# (deriving tasks keeps each trace's spans in arrays). Ranges are cut on whole
# hours; a cycle's usual few minutes are never cut.
_SPANS_PER_STATEMENT = 2_000_000
# And at most this many SLOs' rollups per INSERT: a steady-state cycle writes
# the new minutes of up to 20 SLOs in one statement.
_ROLLUPS_PER_STATEMENT = 20
# A row is stamped when its insert starts and seen when it commits: the scan for
# rows stored since the previous cycle reaches this far before that cycle began,
# so an insert that ran across it is not missed (the overlap is rolled up twice).
_STORED_OVERLAP = timedelta(minutes=2)
# Minutes to roll up again that lie this close together are rolled up as one
# range: a few clean minutes recomputed cost less than another statement.
_RANGE_GAP = timedelta(minutes=10)
# Days of tasks summed per statement into task_spend_daily: a month of a busy store at a time.
_DAYS_PER_STATEMENT = 31
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TASKS_MARK = "agent_tasks"
_ROLLUPS_MARK = "slo_rollups/"
# The server's clock when the last live cycle began (spans) or ended its derivations (tasks):
# rows of the table stored after it are new to the engine. Named "stored/<table>".
_STORED_MARK = "stored/"


@dataclass(frozen=True)
class Watermark:
    """What a step has covered: [since, through), for the SLI with `fingerprint` ('' for tasks)."""

    fingerprint: str
    since: datetime
    through: datetime


@dataclass(frozen=True)
class CatchUp:
    """What a cycle's catch-up found stored since the previous live cycle.

    `late_spans`: spans that ended in a minute already rolled up, now counted;
    `beyond_horizon_spans`: spans that ended before the lateness horizon,
    stored but counted in no SLI; `rerolled_minutes`: minutes rolled up again.
    """

    late_spans: int = 0
    beyond_horizon_spans: int = 0
    rerolled_minutes: int = 0


def run_cycle(storage: Storage, slos: Sequence[SLO], now: datetime, *,
              grace: timedelta = DEFAULT_GRACE) -> tuple[SloStatus, ...]:
    """Catch up, evaluate every SLO as of `now` and append their slo_status rows (no alerting)."""
    catch_up(storage, slos, now, grace=grace)
    statuses = evaluate(storage, slos, now, grace=grace)
    write_status(storage, statuses)
    return statuses


def catch_up(storage: Storage, slos: Sequence[SLO], now: datetime, *, grace: timedelta = DEFAULT_GRACE,
             horizon: timedelta = DEFAULT_LATENESS_HORIZON, budgets: Sequence[SpendBudget] = (),
             live: bool = True) -> CatchUp:
    """Derive tasks, sum their spend per day (`sync_task_spend`) and bring every SLO's rollups up to
    `now`, late data included when `live`.

    Tasks are derived as far back as any SLO reads them and, for `budgets`
    counted per member, to the start of their current period. A cycle that is
    not `live` (an evaluation as of another time) neither looks for late data
    nor moves the mark of what the live cycles have seen.
    """
    marks = read_watermarks(storage)
    spans_seen = marks.get(_STORED_MARK + TRACES) if live else None
    tasks_seen = marks.get(_STORED_MARK + AGENT_TASKS) if live else None
    spans_at = _server_clock(storage) if live else None
    horizon_start = _floor_minute(_utc(now) - horizon)
    since = min((*(earliest_read(slo, now, grace) for slo in slos), *(budget.period.bounds(now)[0]
                 for budget in budgets if budget.per is not None)), default=now - grace)
    tasks = marks.get(_TASKS_MARK)
    if spans_seen is not None and tasks is not None and horizon_start < tasks.through:
        for statement in rederive_stored_since_statements(spans_seen.through - _STORED_OVERLAP, horizon_start,
                                                          tasks.through):
            _command(storage, statement)
    sync_tasks(storage, now, since=since, grace=grace)
    sync_task_spend(storage)
    stored: dict[str, list[datetime]] = {}
    late = beyond = 0
    if spans_seen is not None:
        minutes = _stored_minutes(storage, TRACES, spans_seen.through - _STORED_OVERLAP, spans_seen.through)
        rolled = min((marks[key].through for slo in slos if compile_sli(slo.indicator).table == TRACES
                      and (key := _ROLLUPS_MARK + slo.name) in marks), default=None)
        late = sum(counted for minute, counted in minutes if horizon_start <= minute and rolled and minute < rolled)
        beyond = sum(counted for minute, counted in minutes if minute < horizon_start)
        stored[TRACES] = [minute for minute, _ in minutes if minute >= horizon_start]
    if tasks_seen is not None:
        # Only this process derives tasks, and it commits them before it rolls up: no overlap needed.
        minutes = _stored_minutes(storage, AGENT_TASKS, tasks_seen.through, tasks_seen.through)
        stored[AGENT_TASKS] = [minute for minute, _ in minutes if minute >= horizon_start]
    rerolled = sync_rollups(storage, slos, now, grace=grace, stored=stored)
    if spans_at is not None:
        tasks_at = _server_clock(storage)  # after this cycle's own derivations and rollups
        _write_watermarks(storage, {_STORED_MARK + TRACES: Watermark("", spans_at, spans_at),
                                    _STORED_MARK + AGENT_TASKS: Watermark("", tasks_at, tasks_at)})
    return CatchUp(late, beyond, rerolled)


def _stored_minutes(storage: Storage, table: str, since: datetime, counted_since: datetime,
                    ) -> list[tuple[datetime, int]]:
    """The minutes in which the rows of `table` stored since `since` end, each with how many of them
    were stored since `counted_since`."""
    return [(_EPOCH + timedelta(seconds=seconds), counted)
            for seconds, _, counted in _query(storage, stored_since_query(table, since, counted_since)).rows]


def _server_clock(storage: Storage) -> datetime:
    """The server's clock: what it stamps stored rows with."""
    return _from_millis(_query(storage, server_clock_query()).scalar())
def evaluate_spend(storage: Storage, budgets: Sequence[SpendBudget], now: datetime) -> tuple[SpendStatus, ...]:
    """What each budget's scope spent so far in its period holding `now`: one status for a global
    budget, one per member with spend for a group budget (tasks as far as `sync_tasks` derived them),
    and for a group budget no member has spent in yet, one status without a member, at $0: every
    configured budget is listed from the start."""
    statuses = []
    for budget in budgets:
        start, _ = budget.period.bounds(now)
        members = sorted(_query(storage, spend_query(budget, start, now)).rows)
        for member, spent_usd in members or [("", 0.0)]:
            statuses.append(SpendStatus(budget, member or None, float(spent_usd), now))
    return tuple(statuses)


@dataclass(frozen=True)
class WaitingTasks:
    """Tasks that finished but are not derived yet: they wait `grace` for late children.

    `count` traces; the first of them counts in the SLIs from `counts_from` (None when none wait).
    """

    count: int
    counts_from: datetime | None


def waiting_tasks(storage: Storage, now: datetime, *, grace: timedelta = DEFAULT_GRACE) -> WaitingTasks:
    """The tasks finished in the last `grace` before `now`: what task SLOs and group budgets do not count yet."""
    start = _utc(now) - grace
    [(count, first_end)] = _query(storage, waiting_tasks_query(start, _utc(now))).rows
    return WaitingTasks(count, _from_millis(first_end) + grace if count else None)


def derive_tasks(storage: Storage, *, start: datetime, end: datetime) -> None:
    """(Re)derive every task of the traces with a root or invoke_agent span ending in [start, end).

    Idempotent: a task derived again replaces its earlier row, counting the
    spans stored now (and each stored span once).
    """
    for chunk_start, chunk_end in _SpanVolume(storage, start, end).cut(start, end):
        for statement in derive_tasks_statements(chunk_start, chunk_end):
            _command(storage, statement)


def sync_tasks(storage: Storage, now: datetime, *, since: datetime, grace: timedelta = DEFAULT_GRACE) -> None:
    """Derive the tasks not derived yet that ended in [since, now - grace)."""
    end = _utc(now) - grace
    since = min(_utc(since), end)
    mark = read_watermarks(storage).get(_TASKS_MARK)
    if mark is None:
        ranges = [(since, end)]
        mark = Watermark("", since, end)
    else:
        ranges = [(since, min(mark.since, end)), (mark.through, end)]
        mark = Watermark("", min(since, mark.since), max(end, mark.through))
    for start, stop in ranges:
        if start < stop:
            derive_tasks(storage, start=start, end=stop)
    _write_watermarks(storage, {_TASKS_MARK: mark})


def sync_task_spend(storage: Storage) -> int:
    """Sum again into task_spend_daily each UTC day holding tasks derived since the day was last summed
    (every day at first); returns how many days were summed. Only the evaluator derives tasks, and it
    calls this after its derivations: a day summed here holds every task derived so far."""
    days = [(_EPOCH + timedelta(seconds=seconds)).date()
            for (seconds,) in _query(storage, task_spend_stale_days_query()).rows]
    runs: list[tuple[date, int]] = []
    for day in days:
        if runs and runs[-1][0] + timedelta(days=runs[-1][1]) == day and runs[-1][1] < _DAYS_PER_STATEMENT:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    for first, count in runs:
        _command(storage, task_spend_insert(first, count))
    return len(days)


def sync_rollups(storage: Storage, slos: Iterable[SLO], now: datetime, *, grace: timedelta = DEFAULT_GRACE,
                 stored: Mapping[str, Sequence[datetime]] | None = None) -> int:
    """Bring each SLO's per-minute rollups up to the evaluation at `now`: new minutes and backfills,
    and the minutes already rolled up in which rows `stored` late end (by table, from `catch_up`).

    Returns how many minutes were rolled up again.
    """
    marks = read_watermarks(storage)
    stored = stored or {}
    done: dict[str, Watermark] = {}
    todo: list[tuple[SliSql, str, datetime, datetime]] = []
    rerolled = 0
    for slo in slos:
        sli = compile_sli(slo.indicator)
        earliest, end = earliest_read(slo, now, grace), data_through(slo, now, grace)
        key = _ROLLUPS_MARK + slo.name
        mark = marks.get(key)
        if mark is None or mark.fingerprint != sli.fingerprint:
            ranges = [(earliest, end)]
            mark = Watermark(sli.fingerprint, earliest, end)
        else:
            late = [m for m in stored.get(sli.table, ()) if max(earliest, mark.since) <= m < min(mark.through, end)]
            rerolled += len(late)
            ranges = [(earliest, min(mark.since, end)), *_ranges(late), (mark.through, end)]
            mark = Watermark(sli.fingerprint, min(earliest, mark.since), max(end, mark.through))
        todo.extend((sli, slo.name, start, stop) for start, stop in ranges if start < stop)
        done[key] = mark
    if todo:
        volume = _SpanVolume(storage, min(start for _, _, start, _ in todo), max(stop for *_, stop in todo))
        statement: list[RollupRange] = []
        statement_spans = 0
        for sli, name, start, stop in todo:
            for chunk_start, chunk_end in volume.cut(start, stop):
                spans = volume.spans(chunk_start, chunk_end)
                if statement and (len(statement) == _ROLLUPS_PER_STATEMENT
                                  or statement_spans + spans > _SPANS_PER_STATEMENT):
                    _command(storage, rollup_insert(statement))
                    statement, statement_spans = [], 0
                statement.append(RollupRange(name, sli, chunk_start, chunk_end))
                statement_spans += spans
        _command(storage, rollup_insert(statement))
    _write_watermarks(storage, done)
    return rerolled


def _ranges(minutes: Sequence[datetime]) -> list[tuple[datetime, datetime]]:
    """Whole-minute ranges covering `minutes` (sorted), merging those less than _RANGE_GAP apart."""
    ranges: list[tuple[datetime, datetime]] = []
    for minute in minutes:
        if ranges and minute - ranges[-1][1] < _RANGE_GAP:
            ranges[-1] = (ranges[-1][0], minute + _MINUTE)
        else:
            ranges.append((minute, minute + _MINUTE))
    return ranges


def evaluate(storage: Storage, slos: Sequence[SLO], now: datetime, *,
             grace: timedelta = DEFAULT_GRACE) -> tuple[SloStatus, ...]:
    """Each SLO's status as of `now`, from its rollups (which `sync_rollups` must have brought that far)."""
    ends = {slo.name: data_through(slo, now, grace) for slo in slos}
    by_name: dict[str, SloStatus] = {}
    for end in set(ends.values()):
        group = [slo for slo in slos if ends[slo.name] == end]
        by_name.update((status.slo.name, status) for status in _evaluate_ending(storage, group, now, end, grace))
    return tuple(by_name[slo.name] for slo in slos)


def _evaluate_ending(storage: Storage, slos: Sequence[SLO], now: datetime, end: datetime,
                     grace: timedelta) -> list[SloStatus]:
    """The statuses of SLOs whose windows all end at `end` (their `data_through`)."""
    fingerprints = [compile_sli(slo.indicator).fingerprint for slo in slos]
    # The SLOs share most of their starts, and one query reads them all.
    starts = {slo.name: (window_bounds(slo, now, grace)[0], *(end - w for w in burn_windows(slo))) for slo in slos}
    union = sorted({start for own in starts.values() for start in own})
    result = _query(storage, window_sums_query(list(zip(starts, fingerprints)), union, end))
    sums = {(name, fingerprint): (good, total) for name, fingerprint, good, total in result.rows}
    column = {start: index for index, start in enumerate(union)}
    statuses = []
    for slo, fingerprint in zip(slos, fingerprints):
        good, total = sums.get((slo.name, fingerprint), ([0] * len(union), [0] * len(union)))
        counts = [EventCounts(good[column[start]], total[column[start]]) for start in starts[slo.name]]
        if isinstance(slo.budgeting, Timeslices):
            query = slice_sums_query(slo.name, fingerprint, slo.budgeting.slice, earliest_read(slo, now, grace), end)
            slices = [(_EPOCH + timedelta(seconds=slice_start), EventCounts(g, t))
                      for slice_start, g, t in _query(storage, query).rows]
            statuses.append(timeslices_status(slo, now, counts[0], slices, grace=grace))
        else:
            statuses.append(occurrences_status(slo, now, counts[0], dict(zip(burn_windows(slo), counts[1:])),
                                               grace=grace))
    return statuses


def write_status(storage: Storage, statuses: Iterable[SloStatus],
                 alert_states: Mapping[str, str] | None = None) -> None:
    """Append one slo_status row per status, with its SLO's alert state from `alert_states` (by name; '' if absent)."""
    alert_states = alert_states or {}
    rows = [orjson.dumps(_status_row(status, alert_states.get(status.slo.name, ""))) for status in statuses]
    if rows:
        storage.insert_json_rows(SLO_STATUS, b"\n".join(rows))


def latest_status_at(storage: Storage, *, since: datetime) -> datetime | None:
    """When the newest slo_status rows written since `since` were evaluated (the last live cycle's time,
    or a later evaluation's as of another time); None when none were."""
    rows, at = storage.query(
        f"SELECT count(), toUnixTimestamp64Micro(max(Timestamp)) FROM {SLO_STATUS} "
        "WHERE Timestamp >= {since:DateTime64(6, 'UTC')}", {"since": _utc(since)}).rows[0]
    return _from_micros(at) if rows else None


def read_watermarks(storage: Storage) -> dict[str, Watermark]:
    """How far each step has got, by name ('agent_tasks', 'slo_rollups/<slo name>')."""
    result = storage.query(
        f"SELECT Name, Fingerprint, toUnixTimestamp64Micro(Since), toUnixTimestamp64Micro(Through) "
        f"FROM {WATERMARKS} FINAL"
    )
    return {name: Watermark(fingerprint, _from_micros(since), _from_micros(through))
            for name, fingerprint, since, through in result.rows}


def _write_watermarks(storage: Storage, marks: dict[str, Watermark]) -> None:
    rows = [orjson.dumps({"Name": name, "Fingerprint": mark.fingerprint, "Since": _text(mark.since),
                          "Through": _text(mark.through)})
            for name, mark in marks.items()]
    if rows:
        storage.insert_json_rows(WATERMARKS, b"\n".join(rows))


def _status_row(status: SloStatus, alert_state: str) -> dict[str, object]:
    slo = status.slo
    slices = status.slices
    exhaustion = status.time_to_exhaustion
    return {
        "Timestamp": _text(status.evaluated_at),
        "SloName": slo.name,
        "Kind": kind_of(slo.indicator).name,
        "Events": slo.indicator.events.value,
        "Window": str(slo.window),
        "Budgeting": "timeslices" if isinstance(slo.budgeting, Timeslices) else "occurrences",
        "Objective": slo.target,
        "Sli": status.sli,
        "GoodEvents": status.counts.good_events,
        "TotalEvents": status.counts.total_events,
        "GoodSlices": None if slices is None else slices.good_slices,
        "BadSlices": None if slices is None else slices.bad_slices,
        "ErrorBudget": status.error_budget,
        "ErrorBudgetRemaining": status.error_budget_remaining,
        "ErrorBudgetRemainingEvents": status.error_budget_remaining_events,
        "BurnRates": {format_duration(rate.window): rate.burn_rate
                      for rate in status.burn_rates if rate.burn_rate is not None},
        "TimeToExhaustionSeconds": None if exhaustion is None else exhaustion.total_seconds(),
        "EnoughData": int(status.enough_data),
        "AlertState": alert_state,
        "DataThrough": _text(status.data_through),
        "WindowEvents": {format_duration(rate.window): rate.events.total_events for rate in status.burn_rates},
    }


def _command(storage: Storage, statement: Statement) -> None:
    storage.command(statement.sql, statement.params)


def _query(storage: Storage, statement: Statement) -> QueryResult:
    return storage.query(statement.sql, statement.params)


class _SpanVolume:
    """How many spans started in each hour of a range: where to cut a backfill into statements."""

    def __init__(self, storage: Storage, start: datetime, end: datetime) -> None:
        self._hours: dict[datetime, int] = {}
        if end - start > _HOUR:
            rows = _query(storage, spans_per_hour_query(start, end)).rows
            self._hours = {_EPOCH + timedelta(seconds=hour): spans for hour, spans in rows}

    def spans(self, start: datetime, end: datetime) -> int:
        """About how many spans [start, end) holds (counting the whole of each hour it touches)."""
        return sum(self._hours.get(hour, 0) for hour in _hours(start, end))

    def cut(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """[start, end) in consecutive ranges of at most _SPANS_PER_STATEMENT spans (or one hour)."""
        if end - start <= _HOUR:
            return [(start, end)] if start < end else []
        ranges, first, spans = [], start, 0
        for hour in _hours(start, end):
            here = self._hours.get(hour, 0)
            if spans and spans + here > _SPANS_PER_STATEMENT:
                ranges.append((first, hour))
                first, spans = hour, 0
            spans += here
        ranges.append((first, end))
        return ranges


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    """The whole hours [start, end) touches, by their start."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield hour
        hour += _HOUR


def _floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment} must be timezone-aware")
    return moment.astimezone(UTC)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _from_millis(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


def _text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
