"""Parameter checks shared by every path: one rule, one message, naming the parameter."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_count", "check_flag", "check_frames", "check_number", "check_seed"]


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


def check_flag(name: str, value, *, optional: bool = False) -> "bool | None":
    """``value`` if it is True or False (or None, when ``optional``); else TypeError naming it."""
    if optional and value is None:
        return None
    if not isinstance(value, (bool, np.bool_)):
        allowed = "True, False or None" if optional else "True or False"
        raise TypeError(f"{name} must be {allowed}, got {value!r}")
    return bool(value)


def check_seed(name: str, value) -> "int | None":
    """``value`` if it is None or a whole number >= 0 (a random seed); else an error naming it."""
    if value is None:
        return None
    return check_count(name, value, minimum=0)


def check_frames(name: str, value) -> "slice | None":
    """``value`` if it is None or a slice of frames in order (a positive step); else an error."""
    if value is None:
        return None
    if not isinstance(value, slice):
        raise TypeError(
            f"{name} must be a slice of frames (slice(start, stop, step)), got {value!r}"
        )
    for part in ("start", "stop", "step"):
        bound = getattr(value, part)
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, numbers.Integral)
        ):
            raise TypeError(f"{name}: {part} must be an integer, got {bound!r}")
    if value.step is not None and value.step < 1:
        raise ValueError(
            f"{name}: the step must be positive (frames decode in order), got {value.step}"
        )
    return value
