"""Paired, interleaved rounds: how every benchmark here compares two ways of doing one job.

A benchmark names a *baseline* (the same essential work done bare) and a
*candidate* (the app doing it). Each round measures both, back to back, in
ABBA order (baseline first in even rounds, candidate first in odd ones), so a
machine that slows down or speeds up during the run weighs on both alike. The
figure is the candidate's rate divided by the baseline's *in the same round*;
the report gives the median of those per-round ratios and their min-max.

    from benchmarks.harness import Side, compare, rate_of

    result = compare(
        Side("bare requests.Session.post", rate_of(lambda n: post_n(n))),
        Side("SepsmsBackend.send_message", rate_of(lambda n: send_n(n))),
        unit="requests",
        rounds=args.rounds,
        seconds=args.seconds,
    )
    print(result.report("HTTP backend ÷ bare post"))

A side's ``measure`` is any callable that does at least ``seconds`` of work and
returns units per second: :func:`rate_of` makes one from a ``run(n)`` that does
``n`` units; a benchmark driving a server with ``wrk`` returns wrk's own rate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: What the figures in docs/performance.rst use; smoke tests pass less.
DEFAULT_ROUNDS = 6
DEFAULT_SECONDS = 1.0


@dataclass
class Side:
    """One way of doing the job: a name for the report and how to measure one round."""

    name: str
    #: ``measure(seconds)`` works for at least ``seconds`` and returns units per second.
    measure: Callable[[float], float]


@dataclass
class Comparison:
    """The per-round rates of both sides and their ratios (candidate ÷ baseline)."""

    baseline: Side
    candidate: Side
    unit: str
    seconds: float
    baseline_rates: list[float] = field(default_factory=list)
    candidate_rates: list[float] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [c / b for b, c in zip(self.baseline_rates, self.candidate_rates, strict=True)]

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def report(self, title: str) -> str:
        """Three lines: the paired ratio (median, min-max), then each side's median rate."""
        ratios = self.ratios
        return (
            f"{title}: {self.median:.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}) "
            f"over {len(ratios)} paired ABBA rounds of >= {self.seconds:g} s\n"
            f"  baseline  {self.baseline.name}: "
            f"{statistics.median(self.baseline_rates):,.0f} {self.unit}/s\n"
            f"  candidate {self.candidate.name}: "
            f"{statistics.median(self.candidate_rates):,.0f} {self.unit}/s"
        )


def compare(
    baseline: Side,
    candidate: Side,
    *,
    unit: str,
    rounds: int = DEFAULT_ROUNDS,
    seconds: float = DEFAULT_SECONDS,
    warmup: bool = True,
) -> Comparison:
    """Measure both sides in ``rounds`` paired rounds, in ABBA order."""
    result = Comparison(baseline, candidate, unit, seconds)
    if warmup:  # imports, connections, caches: not part of any round
        baseline.measure(min(seconds, 0.2) / 4)
        candidate.measure(min(seconds, 0.2) / 4)
    for index in range(rounds):
        if index % 2 == 0:
            b = baseline.measure(seconds)
            c = candidate.measure(seconds)
        else:
            c = candidate.measure(seconds)
            b = baseline.measure(seconds)
        result.baseline_rates.append(b)
        result.candidate_rates.append(c)
    return result


def rate_of(run: Callable[[int], Any], *, start: int = 1) -> Callable[[float], float]:
    """A ``measure`` from ``run(n)``, which does ``n`` units of work.

    ``n`` grows until one call lasts at least the round's ``seconds``; the
    size found is kept for the next rounds (and grown again if they got faster).
    """
    size = [max(1, start)]

    def measure(seconds: float) -> float:
        n = size[0]
        while True:
            began = time.perf_counter()
            run(n)
            elapsed = time.perf_counter() - began
            if elapsed >= seconds:
                size[0] = n
                return n / elapsed
            # Aim a little past the target so the next try is usually the last.
            n = max(n + 1, int(n * min(10.0, 1.2 * seconds / max(elapsed, 1e-6))))

    return measure


def add_round_arguments(parser: argparse.ArgumentParser) -> None:
    """``--rounds`` and ``--seconds``, with the defaults the published figures use."""
    parser.add_argument(
        "--rounds", type=int, default=DEFAULT_ROUNDS, help="Paired ABBA rounds (default 6)."
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help="The least time each side works in each round (default 1.0).",
    )
