"""The distribution of what a forecast row will have closed won at the period's end (docs/domain.md §9),
and its 10th, 50th and 90th percentiles. Pure: no I/O, deterministic (no random numbers).

closedWon so far is certain; each open deal i closes won with its chance p_i (independently) and then
adds its amount a_i (company currency, raw). The sum's distribution is worked out by one of three methods,
chosen by the number n of open deals (docs/prediction.md says why):

- EXACT (n ≤ 8): every outcome enumerated, to the cent. Percentiles are exact.
- LATTICE (8 < n ≤ 64): the distribution on a grid of G ≥ 512·n steps (a power of two) of Δ cents
  (Δ = 1 cent when the open amounts add up to less than G cents), each amount rounded to the grid. Each
  percentile is within n·Δ/2 of the exact one: at most 0.1 % of the open amount plus n/2 cents.
- MIXTURE (n > 64): the six largest deals exactly (≤ 64 outcomes) and the rest as a normal distribution
  with their mean and variance. By the Berry–Esseen theorem (constant 0.56, Shevtsova 2010) the returned
  q-percentile is an exact percentile of some level within q ± ε, ε = 0.56·Σρᵢ/σ³ over the rest
  (ρᵢ = E|Xᵢ − μᵢ|³); `level_error` reports it.

Every percentile is kept within [closedWon + the certain deals, closedWon + the deals with any chance].
"""

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

import numpy as np
import numpy.typing as npt

LEVELS = (0.1, 0.5, 0.9)
EXACT_LIMIT = 8
LATTICE_LIMIT = 64
LATTICE_STEPS_PER_DEAL = 512  # the lattice's grid: 512·n steps, rounded up to a power of two
EXACT_LARGEST = 6  # MIXTURE: the largest deals taken exactly
BERRY_ESSEEN = 0.56
# A cumulative probability this close below a level counts as reaching it: sums of float products are
# not exact, and an atom whose cumulative probability is exactly the level must be chosen every time.
_TOLERANCE = 1e-9
_CENT = Decimal("0.01")

Floats = npt.NDArray[np.float64]
_Z = (-1.2815515655446004, 0.0, 1.2815515655446004)  # the standard normal's LEVELS percentiles


class Method(StrEnum):
    EXACT = "exact"
    LATTICE = "lattice"
    MIXTURE = "mixture"


@dataclass(frozen=True, slots=True)
class Group:
    """The open deals of one stage (so of one chance) among a row's: how many, Σ amount (exact), Σ amount²
    and Σ amount³, and the largest amounts in descending order — all of them when `complete`."""

    count: int
    total: Decimal
    squares: float
    cubes: float
    largest: tuple[float, ...]

    @property
    def complete(self) -> bool:
        return len(self.largest) == self.count

    def __add__(self, other: "Group") -> "Group":
        """Two disjoint groups of deals of one stage together (largest: as many as the two know)."""
        largest = tuple(sorted(self.largest + other.largest, reverse=True))
        count = self.count + other.count
        if not (self.complete and other.complete) or count > LATTICE_LIMIT:
            largest = largest[:EXACT_LARGEST]  # the mixture takes a few known deals exactly, any few
        return Group(
            count,
            self.total + other.total,
            self.squares + other.squares,
            self.cubes + other.cubes,
            largest,
        )

    @classmethod
    def of(cls, amounts: Iterable[Decimal]) -> "Group":
        values = sorted((Decimal(a) for a in amounts), reverse=True)
        floats = [float(a) for a in values]
        return cls(
            len(values),
            sum(values, Decimal(0)),
            math.fsum(a * a for a in floats),
            math.fsum(a * a * a for a in floats),
            tuple(floats),
        )


@dataclass(frozen=True, slots=True)
class OpenDeals:
    """A row's open deals, grouped by their chance of closing won (stage → (chance, group))."""

    groups: dict[int, tuple[float, Group]] = field(default_factory=dict)

    def __add__(self, other: "OpenDeals") -> "OpenDeals":
        """The open deals of disjoint rows together (a viewer's top teams)."""
        merged = dict(self.groups)
        for stage, (chance, group) in other.groups.items():
            merged[stage] = (chance, merged[stage][1] + group) if stage in merged else (chance, group)
        return OpenDeals(merged)

    @property
    def count(self) -> int:
        return sum(g.count for _, g in self.groups.values())


@dataclass(frozen=True, slots=True)
class Prediction:
    p10: Decimal
    p50: Decimal
    p90: Decimal
    expected: Decimal
    open_deals: int
    method: Method
    level_error: float = 0.0  # MIXTURE: the Berry–Esseen bound ε on the percentiles' levels


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, rounding=ROUND_HALF_EVEN)


@functools.lru_cache(maxsize=4096)
def _exactly(chance: float) -> Decimal:
    """A chance as the decimal its shortest representation writes (chances repeat: one per stage)."""
    return Decimal(repr(chance))


def predict(closed_won: Decimal, deals: OpenDeals) -> Prediction:
    """The range of closedWon at the period's end: P10, P50, P90 and the expected value, in cents."""
    groups = [(chance, g) for chance, g in deals.groups.values() if g.count]
    n = sum(g.count for _, g in groups)
    expected = closed_won + sum((_exactly(c) * g.total for c, g in groups), Decimal(0))
    if n == 0:
        won = _cents(closed_won)
        return Prediction(won, won, won, won, 0, Method.EXACT)
    certain = sum((g.total for c, g in groups if c >= 1.0), Decimal(0))
    possible = sum((g.total for c, g in groups if c > 0.0), Decimal(0))
    low, high = float(certain), float(possible)
    level_error = 0.0
    if n <= LATTICE_LIMIT and all(g.complete for _, g in groups):
        amounts = [a for _, g in groups for a in g.largest]
        chances = [c for c, g in groups for _ in g.largest]
        method = Method.EXACT if n <= EXACT_LIMIT else Method.LATTICE
        found = (_exact if method == Method.EXACT else _lattice)(amounts, chances)
    else:
        method = Method.MIXTURE
        found, level_error = _mixture(groups)
    values = sorted(min(max(v, low), high) for v in found)
    p10, p50, p90 = (_cents(closed_won + Decimal(f"{v:.2f}")) for v in values)
    return Prediction(p10, p50, p90, _cents(expected), n, method, level_error)


def _quantiles(support: Floats, probabilities: Floats) -> list[float]:
    """The LEVELS' percentiles (the least value whose cumulative probability reaches the level) of a
    distribution on sorted support points."""
    cumulative = np.cumsum(probabilities)
    at = np.searchsorted(cumulative, np.array(LEVELS) - _TOLERANCE, side="left")
    return [float(support[min(int(i), len(support) - 1)]) for i in at]


def _outcomes(cents: npt.NDArray[np.int64], chances: Floats) -> tuple[npt.NDArray[np.int64], Floats]:
    """Every sum of a subset of the amounts (integers) with its probability, merged and sorted."""
    sums = np.zeros(1, dtype=np.int64)
    probabilities = np.ones(1)
    for amount, chance in zip(cents, chances, strict=True):
        sums = np.concatenate([sums, sums + amount])
        probabilities = np.concatenate([probabilities * (1.0 - chance), probabilities * chance])
        merged, inverse = np.unique(sums, return_inverse=True)
        probabilities = np.bincount(inverse, probabilities, minlength=len(merged)).astype(np.float64)
        sums = merged.astype(np.int64)
    return sums, probabilities


def _exact(amounts: list[float], chances: list[float]) -> list[float]:
    # A handful of deals (most users' rows): plain Python, without numpy's per-call cost.
    cents = [round(a * 100) for a in amounts]
    outcomes = {0: 1.0}
    for amount, chance in zip(cents, chances, strict=True):
        after: dict[int, float] = {}
        for total, probability in outcomes.items():
            after[total] = after.get(total, 0.0) + probability * (1.0 - chance)
            after[total + amount] = after.get(total + amount, 0.0) + probability * chance
        outcomes = after
    found, running, levels = [], 0.0, iter(LEVELS)
    level = next(levels)
    for total, probability in sorted(outcomes.items()):
        running += probability
        while running >= level - _TOLERANCE:
            found.append(total / 100)
            if (following := next(levels, None)) is None:
                return found
            level = following
    return found + [max(outcomes) / 100] * (len(LEVELS) - len(found))


def _lattice(amounts: list[float], chances: list[float]) -> list[float]:
    cents = np.rint(np.array(amounts) * 100).astype(np.int64)
    steps = 1 << (LATTICE_STEPS_PER_DEAL * len(amounts) - 1).bit_length()
    step = max(1, math.ceil(int(cents.sum()) / steps))
    units = np.rint(cents / step).astype(np.int64)
    distribution = np.zeros(int(units.sum()) + 1)
    distribution[0] = 1.0
    reach = 0
    for unit, chance in zip(units, chances, strict=True):
        u = int(unit)
        head = distribution[: reach + 1].copy()
        distribution[: reach + 1] *= 1.0 - chance
        distribution[u : u + reach + 1] += head * chance
        reach += u
    support = np.arange(len(distribution), dtype=np.float64) * step
    return [q / 100 for q in _quantiles(support, distribution)]


def _phi(z: Floats) -> Floats:
    """The standard normal distribution function, through erf by Abramowitz & Stegun 7.1.26 (absolute
    error < 1.5e-7)."""
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf), dtype=np.float64)


def _mixture(groups: Sequence[tuple[float, Group]]) -> tuple[list[float], float]:
    """The percentiles of (the largest deals, exactly) + (the rest, normal), and the Berry–Esseen bound."""
    known = sorted(((a, i) for i, (_, g) in enumerate(groups) for a in g.largest), reverse=True)
    known = known[:EXACT_LARGEST]
    mean = variance = rho = 0.0
    for i, (chance, g) in enumerate(groups):
        used = [a for a, j in known if j == i]
        s1 = float(g.total) - math.fsum(used)
        s2 = g.squares - math.fsum(a * a for a in used)
        s3 = g.cubes - math.fsum(a * a * a for a in used)
        q = chance * (1.0 - chance)
        mean += chance * s1
        variance += q * max(s2, 0.0)
        rho += q * (chance * chance + (1.0 - chance) * (1.0 - chance)) * max(s3, 0.0)
    sigma = math.sqrt(variance)
    level_error = min(1.0, BERRY_ESSEEN * rho / sigma**3) if variance > 0.0 else 0.0
    if not known:  # no deal known by its amount: the normal's own percentiles
        return [mean + z * sigma for z in _Z], level_error
    cents = np.rint(np.array([a for a, _ in known]) * 100).astype(np.int64)
    atoms, weights = _outcomes(cents, np.array([groups[i][0] for _, i in known]))
    atoms_f = atoms.astype(np.float64) / 100 + mean
    if variance <= 0.0:
        return _quantiles(atoms_f, weights), 0.0
    levels = np.array(LEVELS)
    low = np.full(len(LEVELS), atoms_f[0] - 9 * sigma)
    high = np.full(len(LEVELS), atoms_f[-1] + 9 * sigma)
    for _ in range(52):  # bisection on the mixture's distribution function, the three levels at once
        middle = (low + high) / 2
        cumulative = (weights * _phi((middle[:, None] - atoms_f[None, :]) / sigma)).sum(axis=1)
        below = cumulative < levels
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return [float(v) for v in high], level_error
