"""Parameter checks shared by every path: one rule, one message, naming the parameter."""

from __future__ import annotations

import math
import numbers

__all__ = ["check_count", "check_number"]


def check_count(name: str, value, minimum: int = 1) -> int:
    """``value`` as an int if it is a whole number >= ``minimum``; else TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(name: str, value, *, minimum: float = 0.0, inclusive: bool = True) -> float:
    """``value`` as a float if it is a finite real number above ``minimum``; else an error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    bound = ">=" if inclusive else ">"
    if not (math.isfinite(value) and (value >= minimum if inclusive else value > minimum)):
        raise ValueError(f"{name} must be a finite number {bound} {minimum:g}, got {value!r}")
    return value
