"""Argument checks shared by the public entry points: each error names the argument, the value
it got, and what to pass instead.

Integers are checked as integers (a bool, a float such as 2.5 or a string is refused, even
when Python would accept it further down), numbers as real and finite (nan and inf are
refused unless `finite=False`). The checks never convert a value: what the caller passed is
what is used (and what lands in cache keys)."""

from __future__ import annotations

import math
from numbers import Integral, Real


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(name: str, value: object, *, low: int | None = None, none_ok: bool = False,
              hint: str = "") -> None:
    """`value` must be an integer >= `low` (or None when `none_ok`)."""
    if value is None and none_ok:
        return
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer{' or None' if none_ok else ''}, got "
                        f"{value!r} ({type(value).__name__}){_then(hint)}")
    if low is not None and value < low:  # type: ignore[operator]
        raise ValueError(f"{name} must be >= {low}, got {value!r}{_then(hint)}")


def check_real(name: str, value: object, *, low: float | None = None,
               high: float | None = None, low_open: bool = False, high_open: bool = False,
               none_ok: bool = False, finite: bool = True, hint: str = "") -> None:
    """`value` must be a real number (finite unless `finite=False`) in the given range;
    `low_open` / `high_open` exclude the bound itself."""
    if value is None and none_ok:
        return
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number{' or None' if none_ok else ''}, got "
                        f"{value!r} ({type(value).__name__}){_then(hint)}")
    number = float(value)
    if math.isnan(number) or (finite and math.isinf(number)):
        raise ValueError(f"{name} must be a finite number, got {value!r}{_then(hint)}")
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        span = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"{name} must be in {span}, got {value!r}{_then(hint)}")


def check_bool(name: str, value: object, hint: str = "") -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r} "
                        f"({type(value).__name__}){_then(hint)}")


def _then(hint: str) -> str:
    return f": {hint}" if hint else ""
