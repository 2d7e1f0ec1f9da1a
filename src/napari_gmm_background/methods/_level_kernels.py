"""Compiled kernel of the steady-level methods (see :mod:`.levels`)."""

from __future__ import annotations

import numba
import numpy as np

# A serial kernel that releases the GIL: ``_threads`` runs parts of the rows
# on every core (numba's parallel loops cost far more compile time).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# Mean-shift steps at most; each moves by less than the noise, and steps
# smaller than a thousandth of it end the search.
_MAX_STEPS = 50
_SETTLED = 1e-3


@_jit
def steady_levels(
    rows,
    row_start,
    row_stop,
    first_row,
    sign,
    start_quantile,
    below,
    above,
    shift,
    read_variance,
    gain,
    floor,
    out,
    support,
):
    """Each pixel-channel's dimmest steady level of ``sign`` times its samples.

    ``rows`` is a block of rows (T, rows, W * C), of which rows
    ``row_start:row_stop`` are done; they are rows ``first_row + row_start``
    on of ``out`` (H, W * C) float64. ``sign`` -1 looks for the brightest
    steady level instead: the samples are negated (the noise model given
    must be that of the negated samples), and so is the level in ``out``.

    A pixel's level starts at its ``start_quantile`` and moves to the mean
    of its samples from ``below`` noise deviations under it to ``above``
    over it, plus ``shift`` deviations (which makes the mean of pure noise
    its centre), until it settles: samples brighter than the level by more
    than ``above`` deviations (light added by a passing cell) do not pull
    it. ``support`` (H, W * C) gets the share of samples in the last window.
    """
    n_frames = rows.shape[0]
    row_length = rows.shape[2]
    # A row's samples, pixel by pixel: reading a pixel's samples over time
    # straight from (T, H, W * C) would touch a cache line per frame.
    samples = np.empty((row_length, n_frames), dtype=np.float64)
    for y in range(row_start, row_stop):
        for t in range(n_frames):
            for k in range(row_length):
                samples[k, t] = sign * rows[t, y, k]
        at = first_row + y
        for k in range(row_length):
            values = np.sort(samples[k])
            level = values[int(start_quantile * (n_frames - 1))]
            support[at, k] = 0.0
            for _ in range(_MAX_STEPS):
                sd = np.sqrt(max(read_variance + gain * level, floor))
                low = level - below * sd
                high = level + above * sd
                total = 0.0
                count = 0
                # values are sorted: the window is one run of them
                for v in values:
                    if v > high:
                        break
                    if v >= low:
                        total += v
                        count += 1
                if count == 0:
                    break
                support[at, k] = count / n_frames
                moved = total / count + shift * sd
                settled = abs(moved - level) < _SETTLED * sd
                level = moved
                if settled:
                    break
            out[at, k] = sign * level


@_jit
def densest_starts(ordered, width, start):
    """Where each column's densest run of samples ``width`` wide starts, into ``start``.

    ``ordered`` (T, N) holds each column's samples sorted; a run starts at a
    sample and takes every later one up to it plus the column's ``width``.
    The first of equally long runs wins. Both ends only move forward, so a
    column costs T steps, not the T x T of counting from every start.
    """
    n, n_columns = ordered.shape
    for column in range(n_columns):
        end, most, first = 0, 0, 0
        for i in range(n):
            limit = ordered[i, column] + width[column]
            end = max(end, i)
            while end < n and ordered[end, column] <= limit:
                end += 1
            if end - i > most:
                most, first = end - i, i
        start[column] = first


@_jit
def densest_run_medians(ordered, width, out):
    """The median of each row's densest run of samples ``width`` wide, into ``out``.

    ``ordered`` (T, N) holds each row's samples sorted; the run is taken as
    in :func:`densest_starts`, its median as ``np.median`` takes it.
    """
    n_rows, n = ordered.shape
    for row in range(n_rows):
        end, most, first = 0, 0, 0
        for i in range(n):
            limit = ordered[row, i] + width
            end = max(end, i)
            while end < n and ordered[row, end] <= limit:
                end += 1
            if end - i > most:
                most, first = end - i, i
        middle = first + most // 2
        if most % 2:
            out[row] = ordered[row, middle]
        else:
            out[row] = (ordered[row, middle - 1] + ordered[row, middle]) / 2
