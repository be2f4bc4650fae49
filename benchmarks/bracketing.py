"""Ratios of traced runs to the untraced runs just before and after each: this machine's throughput moves in
steps of up to a fifth within a minute (docs/performance.md, "The throughput ratio's method"), so a traced run
is compared with untraced runs seconds away from it, not with one untraced run per round."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass
class Round(Generic[R]):
    """One round: an untraced run before the first traced arm and after each, so that every traced arm lies
    between two."""
    untraced: list[R]
    traced: dict[str, R]

    def bracket(self, arm: str) -> tuple[R, R]:
        """The untraced runs just before and just after `arm`."""
        index = list(self.traced).index(arm)
        return self.untraced[index], self.untraced[index + 1]


def bracketed_ratio(rate: float, before: float, after: float) -> float:
    """A traced run's rate to the mean of the untraced rates around it."""
    return rate / ((before + after) / 2)


def untraced_drifts(rates: list[float]) -> list[float]:
    """Each untraced rate to the one before it: how far throughput moves over one traced arm's span, untraced
    alone, the noise any bracketed ratio carries."""
    return [later / earlier for earlier, later in zip(rates, rates[1:])]


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles; a single value is both."""
    if len(values) == 1:
        return values[0], values[0]
    first, _, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, third
