"""Compiled kernels of the motionless methods (see :mod:`.motion`).

Two passes. While the frames are scored one by one, every pixel keeps the
frames with the least motion seen so far, best first. Then, row by row,
every pixel-channel takes the median of its kept frames and refines it with
all frames that agree with it.
"""

from __future__ import annotations

import numba
import numpy as np

# Serial kernels that release the GIL: each takes the rows (or cells) it
# handles, and :mod:`napari_gmm_background._threads` runs them on every core
# (numba's parallel loops and forced inlining took most of the compile time).
_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# Pixels of a row handled together in the second pass: their samples over
# time are copied into a buffer that stays in cache (reading a pixel's
# samples straight from (T, H, W, C) would touch one cache line per frame).
_BLOCK = 64


@_jit
def cell_grey_into(rows, n_channels, cell, out, cell_start, cell_stop):
    """Mean over each ``cell`` x ``cell`` block of the channel sums of a frame.

    ``rows`` is the (H, W, C) frame as (H, W * C), each row contiguous;
    ``out`` (ceil(H / cell), ceil(W / cell)) float32, rows ``cell_start`` to
    ``cell_stop`` of it filled; blocks at the right and bottom edges may be
    partial. With ``cell`` 1, the channel sums themselves (summed in
    float32, channel by channel).
    """
    height, row_length = rows.shape
    width = row_length // n_channels
    out_width = out.shape[1]
    # One buffer per call: allocating per block row costs more than summing
    # it on small frames.
    block = np.empty(row_length, dtype=np.float32)
    for cy in range(cell_start, cell_stop):
        y0 = cy * cell
        y1 = min(y0 + cell, height)
        # The block's rows are summed first, along whole contiguous rows.
        block[:] = 0
        for y in range(y0, y1):
            for k in range(row_length):
                block[k] += np.float32(rows[y, k])
        for cx in range(out_width):
            x0 = cx * cell
            x1 = min(x0 + cell, width)
            total = np.float32(0)
            for k in range(x0 * n_channels, x1 * n_channels):
                total += block[k]
            if cell > 1:
                total /= np.float32((y1 - y0) * (x1 - x0))
            out[cy, cx] = total


@_jit
def keep_least_moving(score_bits, first_frame, best, worst, row_start, row_stop):
    """Offer frames ``first_frame, first_frame + 1, ...`` to the pixels of some rows.

    Rows ``row_start:row_stop`` (of cells) are handled.

    ``score_bits`` (B, H, W) uint32 is the motion of those B frames: the bits
    of float32 scores >= 0, which order like the scores.
    ``best`` (H, W, S) uint64 holds each pixel's ``S`` least moving frames so
    far, as increasing keys (see :func:`frames_of`); ``first_frame`` frames
    were offered before. ``worst`` (H, W) repeats the last key once a
    pixel's list is full (the largest uint64 before), so most frames are
    turned away without touching the lists. Pixels are the outer loop so
    that each one's list stays in cache for the whole batch.
    """
    n_batch, height, width = score_bits.shape
    n_keep = best.shape[2]
    for y in range(row_start, row_stop):
        for x in range(width):
            for b in range(n_batch):
                # The low half makes later frames win ties, so among equally
                # still frames the background is the scene as it was left
                # (LaBGen-P's rule).
                frame = first_frame + b
                key = (np.uint64(score_bits[b, y, x]) << np.uint64(32)) | np.uint64(
                    0xFFFFFFFF - frame
                )
                if key > worst[y, x]:
                    continue
                filled = min(frame, n_keep)
                position = filled if filled < n_keep else n_keep - 1
                while position > 0 and best[y, x, position - 1] > key:
                    best[y, x, position] = best[y, x, position - 1]
                    position -= 1
                best[y, x, position] = key
                if filled + 1 >= n_keep:
                    worst[y, x] = best[y, x, n_keep - 1]


@_jit
def keep_least_moving_kept(
    score_bits, frame, n_offered, best, worst, slots, values, kept, cell, row_start, row_stop
):
    """:func:`keep_least_moving` for one frame, keeping the pixels of the frames kept.

    For a stack whose frames go by once (a video decoded as it streams), in
    shares: ``frame`` is the frame's number in the stack, ``n_offered`` how
    many frames these lists were offered before. ``kept`` (cells down,
    cells across, S, cell, cell * C) holds each cell's pixels in its kept
    frames, a cell's slots side by side; ``slots`` (cells..., S) says which
    slot each of ``best``'s keys uses. A frame entering a cell's list takes
    the slot of the key it pushes out (or the next free one) and its
    ``values`` (H, W * C) are copied there. Rows of cells
    ``row_start:row_stop`` are handled.
    """
    width = score_bits.shape[1]
    n_keep = best.shape[2]
    n_channels = kept.shape[4] // cell
    image_height, image_width = values.shape[0], values.shape[1] // n_channels
    for y in range(row_start, row_stop):
        for x in range(width):
            key = (np.uint64(score_bits[y, x]) << np.uint64(32)) | np.uint64(0xFFFFFFFF - frame)
            if key > worst[y, x]:
                continue
            filled = min(n_offered, n_keep)
            position = filled if filled < n_keep else n_keep - 1
            slot = filled if filled < n_keep else slots[y, x, n_keep - 1]
            while position > 0 and best[y, x, position - 1] > key:
                best[y, x, position] = best[y, x, position - 1]
                slots[y, x, position] = slots[y, x, position - 1]
                position -= 1
            best[y, x, position] = key
            slots[y, x, position] = slot
            if filled + 1 >= n_keep:
                worst[y, x] = best[y, x, n_keep - 1]
            # Row by row of the cell: runs of contiguous bytes (values are (H, W * C)),
            # indexed in place: a view per row costs reference counting, which
            # took three quarters of the copying.
            left = x * cell * n_channels
            n = min(cell, image_width - x * cell) * n_channels
            for dy in range(min(cell, image_height - y * cell)):
                row = y * cell + dy
                for i in range(n):
                    kept[y, x, slot, dy, i] = values[row, left + i]


def frames_of(best: np.ndarray) -> np.ndarray:
    """The frame index of every key of :func:`keep_least_moving`, int32.

    Read from the keys' low 32-bit halves in place: uint64 temporaries the
    size of ``best`` would triple the peak memory of a large stack.
    """
    halves = np.ascontiguousarray(best).view(np.uint32).reshape(best.shape + (2,))
    low = halves[..., 0 if np.little_endian else 1]
    frames = np.empty(best.shape, dtype=np.uint32)
    np.subtract(np.uint32(0xFFFFFFFF), low, out=frames)
    return frames.view(np.int32)  # frame numbers are far below 2**31


@_jit
def merge_kept(bests, slots, n_offered, kept, cell, out, row_start, row_stop):
    """Every cell's S stillest frames of all shares, the stillest first, as planes.

    ``bests``, ``slots`` (shares, cells down, cells across, S) and ``kept``
    (shares, cells down, cells across, S, cell, cell * C) are each share's
    lists (see :func:`keep_least_moving_kept`), ``n_offered`` (shares,) how
    many frames each share's lists were offered. The j-th smallest key of
    a cell over all shares goes to plane ``out[j]`` (S, H, W * C), so the
    planes hold the frames one pass over all frames would have kept, in
    its order. Rows of cells ``row_start:row_stop`` are handled.
    """
    n_shares, _, width, n_keep = bests.shape
    n_channels = kept.shape[5] // cell
    height, image_width = out.shape[1], out.shape[2] // n_channels
    heads = np.empty(n_shares, dtype=np.int64)
    for y in range(row_start, row_stop):
        rows = min(cell, height - y * cell)
        for x in range(width):
            heads[:] = 0
            left = x * cell * n_channels
            n = min(cell, image_width - x * cell) * n_channels
            for j in range(n_keep):
                share = -1
                for s in range(n_shares):
                    if heads[s] < min(n_offered[s], n_keep) and (
                        share < 0 or bests[s, y, x, heads[s]] < bests[share, y, x, heads[share]]
                    ):
                        share = s
                slot = slots[share, y, x, heads[share]]
                heads[share] += 1
                for dy in range(rows):  # in place, not by slices (see keep_least_moving_kept)
                    row = y * cell + dy
                    for i in range(n):
                        out[j, row, left + i] = kept[share, y, x, slot, dy, i]


@_jit
def _select(values, n, k):
    """The k-th smallest of ``values[:n]``, partitioning in place (Wirth).

    Afterwards ``values[:k]`` are all <= it and ``values[k + 1:n]`` >= it.
    """
    low = 0
    high = n - 1
    while low < high:
        pivot = values[k]
        i = low
        j = high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while pivot < values[j]:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if j < k:
            low = i
        if k < i:
            high = j
    return values[k]


@_jit
def median_in_place(values, n):
    """numpy's median of ``values[:n]`` (mean of the middle two for even n)."""
    middle = n // 2
    upper = _select(values, n, middle)
    if n % 2 == 1:
        return upper
    lower = values[0]
    for i in range(1, middle):
        if values[i] > lower:
            lower = values[i]
    return 0.5 * (lower + upper)


@_jit
def _median_of_counts(counts, width, n, low):
    """numpy's median of ``n`` integers given as ``counts`` of low..low+width-1."""
    lower_rank = (n - 1) // 2
    upper_rank = n // 2
    seen = 0
    lower = -1.0
    for i in range(width):
        seen += counts[i]
        if lower < 0 and seen > lower_rank:
            lower = float(i)
        if seen > upper_rank:
            return low + 0.5 * (lower + i)
    return low + lower


def sorting_network(n: int) -> np.ndarray:
    """Comparators ``(a, b)``, a < b, that sort any ``n`` values: (m, 2) int64.

    Batcher's odd-even merge sort on the next power of two, less the
    comparators that touch a place past ``n`` (as if those held +inf, which
    never moves): 98 comparators for 19 values.
    """
    size = 1
    while size < n:
        size *= 2
    pairs = []
    span = 1
    while span < size:
        step = span
        while step >= 1:
            for j in range(step % span, size - step, 2 * step):
                for i in range(min(step, size - j - step)):
                    if (i + j) // (2 * span) == (i + j + step) // (2 * span) and i + j + step < n:
                        pairs.append((i + j, i + j + step))
            step //= 2
        span *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@_jit
def kept_medians(frames, best_frames, cell, pairs, row_start, row_stop, out):
    """First estimates of rows ``row_start:row_stop``: the median of the kept frames.

    ``best_frames`` (ceil(H / cell), ceil(W / cell), S) holds the kept frame
    indices of each cell of ``cell`` x ``cell`` pixels; every pixel-channel
    of the cell takes the median of its own values in those frames
    (numpy's: the mean of the middle two for even S). The values of
    :data:`_BLOCK` pixels are sorted together by the comparators ``pairs``
    (:func:`sorting_network` of S), each comparator a min and a max over
    all of them at once, in the frames' own type (32 uint8 values an
    instruction); a selection per value, branching on every comparison,
    took four times as long.
    """
    n_kept = best_frames.shape[2]
    width, n_channels = frames.shape[2], frames.shape[3]
    values = np.empty((n_kept, _BLOCK * n_channels), dtype=frames.dtype)
    middle = n_kept // 2
    for y in range(row_start, row_stop):
        cells = best_frames[y // cell]
        for x0 in range(0, width, _BLOCK):
            x1 = min(x0 + _BLOCK, width)
            n_lanes = (x1 - x0) * n_channels
            for j in range(n_kept):
                row = values[j]
                for x in range(x0, x1):
                    frame = cells[x // cell, j]
                    for c in range(n_channels):
                        row[(x - x0) * n_channels + c] = frames[frame, y, x, c]
            for p in range(pairs.shape[0]):
                low = values[pairs[p, 0]]
                high = values[pairs[p, 1]]
                for lane in range(n_lanes):
                    smaller = min(low[lane], high[lane])
                    larger = max(low[lane], high[lane])
                    low[lane] = smaller
                    high[lane] = larger
            upper = values[middle]
            lower = values[middle - 1] if n_kept % 2 == 0 else upper
            for x in range(x0, x1):
                for c in range(n_channels):
                    lane = (x - x0) * n_channels + c
                    if n_kept % 2 == 1:
                        out[y, x, c] = upper[lane]
                    else:
                        out[y, x, c] = 0.5 * (np.float64(lower[lane]) + np.float64(upper[lane]))


@_jit
def agreeing_medians_counted(
    frames, first_estimates, tolerance, count_width, joint, row_start, row_stop, out, support
):
    """Background of rows ``row_start:row_stop`` into ``out`` (H, W, C) float64, integer data.

    For every pixel-channel, the median of all frames within ``tolerance`` of
    its first estimate (``first_estimates`` (H, W, C)); with ``joint``, of the
    frames in which every channel of the pixel is within it, so that the
    channels are estimated from the same frames and cannot mix colours. The
    first estimate is robust to whatever still moves in a few kept frames;
    this averages the noise over every frame that shows the same thing.
    The agreeing values span at most ``count_width`` levels: the median
    counts them while the frames are read in order (one pass, like a
    histogram). Where no frame agrees, the first estimate is kept.
    ``support`` (H, W) int32 receives how many frames agreed (with
    ``joint``, in every channel; otherwise in the first).
    """
    _, _, width, n_channels = frames.shape
    n_agreeing = np.empty((_BLOCK, n_channels), dtype=np.int64)
    low = np.empty((_BLOCK, n_channels), dtype=np.int64)
    span = np.empty((_BLOCK, n_channels), dtype=np.uint64)
    counts = np.empty((_BLOCK, n_channels, count_width), dtype=np.int32)
    for y in range(row_start, row_stop):
        for x0 in range(0, width, _BLOCK):
            x1 = min(x0 + _BLOCK, width)
            n_agreeing[:] = 0
            counts[:] = 0
            for i in range(x1 - x0):
                for c in range(n_channels):
                    first = first_estimates[y, x0 + i, c]
                    low[i, c] = np.int64(np.ceil(first - tolerance))
                    span[i, c] = np.int64(np.floor(first + tolerance)) - low[i, c] + 1
            if joint and n_channels == 3:
                _count_agreeing_colours(frames, y, x0, x1, low, span, counts, n_agreeing)
            elif n_channels == 1 or not joint:
                _count_agreeing_values(frames, y, x0, x1, low, span, counts, n_agreeing)
            else:
                _count_agreeing_joint(frames, y, x0, x1, low, span, counts, n_agreeing)
            for x in range(x0, x1):
                i = x - x0
                for c in range(n_channels):
                    if n_agreeing[i, c] > 0:
                        out[y, x, c] = _median_of_counts(
                            counts[i, c], np.int64(span[i, c]), n_agreeing[i, c], low[i, c]
                        )
            _keep_first_where_none_agreed(y, x0, x1, n_agreeing, first_estimates, out, support)


# The counting loops of agreeing_medians_counted: each frame's value is a
# level above the pixel-channel's ``low``, inside when below its ``span``
# (compared unsigned, so that levels below ``low`` are outside too).
# Three colours, the case of every video, are counted without branches:
# the clamped level is counted by 0 or 1, since whether a frame agrees is
# as unpredictable as the traffic (1.6x faster than breaking out).


@_jit
def _count_agreeing_colours(frames, y, x0, x1, low, span, counts, n_agreeing):
    top = counts.shape[2] - 1
    for t in range(frames.shape[0]):
        row = frames[t, y]
        for i in range(x1 - x0):
            level_0 = np.int64(row[x0 + i, 0]) - low[i, 0]
            level_1 = np.int64(row[x0 + i, 1]) - low[i, 1]
            level_2 = np.int64(row[x0 + i, 2]) - low[i, 2]
            inside = (
                (np.uint64(level_0) < span[i, 0])
                & (np.uint64(level_1) < span[i, 1])
                & (np.uint64(level_2) < span[i, 2])
            )
            add = np.int32(inside)
            counts[i, 0, min(max(level_0, 0), top)] += add
            counts[i, 1, min(max(level_1, 0), top)] += add
            counts[i, 2, min(max(level_2, 0), top)] += add
            n_agreeing[i, 0] += add
    for i in range(x1 - x0):
        n_agreeing[i, 1] = n_agreeing[i, 2] = n_agreeing[i, 0]


@_jit
def _count_agreeing_values(frames, y, x0, x1, low, span, counts, n_agreeing):
    top = counts.shape[2] - 1
    for t in range(frames.shape[0]):
        row = frames[t, y]
        for i in range(x1 - x0):
            for c in range(frames.shape[3]):
                level = np.int64(row[x0 + i, c]) - low[i, c]
                add = np.int32(np.uint64(level) < span[i, c])
                counts[i, c, min(max(level, 0), top)] += add
                n_agreeing[i, c] += add


@_jit
def _count_agreeing_joint(frames, y, x0, x1, low, span, counts, n_agreeing):
    n_channels = frames.shape[3]
    for t in range(frames.shape[0]):
        row = frames[t, y]
        for i in range(x1 - x0):
            inside = True
            for c in range(n_channels):
                if not np.uint64(np.int64(row[x0 + i, c]) - low[i, c]) < span[i, c]:
                    inside = False
                    break
            if inside:
                for c in range(n_channels):
                    counts[i, c, np.int64(row[x0 + i, c]) - low[i, c]] += 1
                    n_agreeing[i, c] += 1


@_jit
def agreeing_medians_sorted(
    frames, first_estimates, tolerance, joint, row_start, row_stop, out, support
):
    """:func:`agreeing_medians_counted` for any data: each pixel's samples sorted out in turn."""
    n_frames, _, width, n_channels = frames.shape
    n_agreeing = np.empty((_BLOCK, n_channels), dtype=np.int64)
    samples = np.empty((_BLOCK, n_channels, n_frames), dtype=np.float64)
    agreeing = np.empty(n_frames, dtype=np.float64)
    everywhere = np.empty(n_frames, dtype=np.bool_)
    for y in range(row_start, row_stop):
        for x0 in range(0, width, _BLOCK):
            x1 = min(x0 + _BLOCK, width)
            for t in range(n_frames):
                for x in range(x0, x1):
                    for c in range(n_channels):
                        samples[x - x0, c, t] = frames[t, y, x, c]
            for x in range(x0, x1):
                i = x - x0
                for t in range(n_frames):
                    everywhere[t] = True
                    for c in range(n_channels):
                        if not abs(samples[i, c, t] - first_estimates[y, x, c]) <= tolerance:
                            everywhere[t] = False
                for c in range(n_channels):
                    centre = first_estimates[y, x, c]
                    n = 0
                    for t in range(n_frames):
                        if everywhere[t] if joint else abs(samples[i, c, t] - centre) <= tolerance:
                            agreeing[n] = samples[i, c, t]
                            n += 1
                    n_agreeing[i, c] = n
                    if n > 0:
                        out[y, x, c] = median_in_place(agreeing, n)
            _keep_first_where_none_agreed(y, x0, x1, n_agreeing, first_estimates, out, support)


@_jit
def _keep_first_where_none_agreed(y, x0, x1, n_agreeing, first_estimates, out, support):
    for x in range(x0, x1):
        support[y, x] = n_agreeing[x - x0, 0]
        for c in range(out.shape[2]):
            if n_agreeing[x - x0, c] == 0:  # a first estimate between distant values
                out[y, x, c] = first_estimates[y, x, c]


@_jit
def _most_recurring(
    series, n, width, table_keys, table_counts, keys, quotients, members, level_counts, out
):
    """The most recurring colour of ``series[:n]`` (n x C) into ``out``.

    The fullest cell of a grid of ``width`` levels a side, over two grids
    offset by half a cell (a colour near one grid's boundary is whole in the
    other), counted in a hash table of ``table_keys``/``table_counts`` (a
    power of two, at least twice ``n``); ``out`` is the per-channel median of
    the cell's members. ``keys`` (2, n) and ``quotients`` (n, C) are scratch:
    each value is divided once, and each key computed once per grid (the
    divisions were most of the cost); so are ``members`` (n) and
    ``level_counts`` (:data:`_COUNTED_SPAN`, zero, and left zero), for the
    medians.
    """
    mask = table_keys.shape[0] - 1
    empty = np.iinfo(np.int64).min
    for t in range(n):
        for c in range(series.shape[1]):
            quotients[t, c] = series[t, c] / width
    best_count = 0
    best_key = np.int64(0)
    best_grid = 0
    for grid in range(2):
        shift = 0.5 * grid
        table_keys[:] = empty
        for t in range(n):
            # The cell holding the colour; computed here, not in a function
            # taking the row: passing an array view costs its reference count.
            key = np.int64(0)
            for c in range(series.shape[1]):
                key = key * np.int64(1000003) + np.int64(np.floor(quotients[t, c] + shift))
            keys[grid, t] = key
            slot = (key * np.int64(0x9E3779B97F4A7C15)) >> np.int64(40) & mask
            while table_keys[slot] != empty and table_keys[slot] != key:
                slot = (slot + 1) & mask
            if table_keys[slot] == empty:
                table_keys[slot] = key
                table_counts[slot] = 0
            table_counts[slot] += 1
            if table_counts[slot] > best_count:
                best_count = table_counts[slot]
                best_key = key
                best_grid = grid
    for c in range(series.shape[1]):
        m = 0
        for t in range(n):
            if keys[best_grid, t] == best_key:
                members[m] = series[t, c]
                m += 1
        out[c] = _median_of_levels(members, m, level_counts)


# Integer levels spanning fewer than this many are counted for their median
# (a fifth of the vote's time went to selecting it); others are selected.
_COUNTED_SPAN = 64


@_jit
def _median_of_levels(values, n, counts):
    """numpy's median of ``values[:n]``: counted where they are a few integer levels.

    ``counts`` (:data:`_COUNTED_SPAN`) is zero on entry and on return;
    ``values`` may be reordered.
    """
    if n == 0:
        return median_in_place(values, n)
    low, high = values[0], values[0]
    integers = True
    for i in range(n):
        low = min(low, values[i])
        high = max(high, values[i])
        integers &= values[i] == np.floor(values[i])
    if not (integers and high - low < _COUNTED_SPAN):
        return median_in_place(values, n)
    base = np.int64(low)
    for i in range(n):
        counts[np.int64(values[i]) - base] += 1
    width = np.int64(high) - base + 1
    median = _median_of_counts(counts, width, n, low)
    counts[:width] = 0
    return median


@_jit
def _agreeing(series, n, centre, tolerance):
    """How many of ``series[:n]`` lie within ``tolerance`` of ``centre`` in every channel."""
    count = 0
    for t in range(n):
        inside = True
        for c in range(series.shape[1]):
            if not abs(series[t, c] - centre[c]) <= tolerance:
                inside = False
                break
        count += inside
    return count


# How much more of the vote (of 3: twice the still frames' share plus all
# frames') the most recurring colour needs. Where leaves move, each leaf's
# colour recurs nearly as often as the background: won by a hair it put a
# leaf in the background (SBI Foliage 2.51 -> 2.30 AGE, false colours 0.24
# -> 0.08 %, PeopleAndFoliage 2.02 -> 1.82), while a road seen between cars
# wins by far more (dense traffic 0.78 -> 0.79; 0.5 would give 1.76).
_VOTE_MARGIN = 0.2


@_jit
def prefer_recurring(
    frames,
    refine_frames,
    best_frames,
    cell,
    tolerance,
    decision_tolerance,
    support,
    min_support,
    row_start,
    row_stop,
    out,
):
    """Where a background is rare in the movie, take the most recurring colour if it wins the vote.

    For pixels of rows ``row_start:row_stop`` whose background ``out`` agrees
    with fewer than ``min_support`` of ``refine_frames`` (``support``, from
    :func:`agreeing_medians`): the pixel's most recurring colour (cells of
    ``decision_tolerance``) replaces it when the two differ by more than
    twice that and it wins the vote by over :data:`_VOTE_MARGIN`, each frame
    of the pixel's ``best_frames`` (its cell's stillest, indices into
    ``frames``) voting with twice the weight of all frames together: score =
    2 x the share of still frames + the share of all frames within
    ``decision_tolerance``.
    The replacement is the median of the frames within ``tolerance`` of it
    in every channel. A slow, uniform object looks still inside; a pixel
    the background shows only now and then but always the same is not lost
    to whatever looked stillest.
    """
    n_frames, _, width, n_channels = refine_frames.shape
    n_kept = best_frames.shape[2]
    for y in range(row_start, row_stop):
        series = np.empty((n_frames, n_channels), dtype=np.float64)
        still = np.empty((n_kept, n_channels), dtype=np.float64)
        size = 4
        while size < 2 * n_frames:
            size *= 2
        table_keys = np.empty(size, dtype=np.int64)
        table_counts = np.empty(size, dtype=np.int64)
        keys = np.empty((2, n_frames), dtype=np.int64)
        quotients = np.empty((n_frames, n_channels), dtype=np.float64)
        recurring = np.empty(n_channels, dtype=np.float64)
        members = np.empty(n_frames, dtype=np.float64)
        level_counts = np.zeros(_COUNTED_SPAN, dtype=np.int64)
        agreeing = np.empty(n_frames, dtype=np.float64)
        cells = best_frames[y // cell]
        for x in range(width):
            if support[y, x] >= min_support * n_frames:
                continue
            for t in range(n_frames):
                for c in range(n_channels):
                    series[t, c] = refine_frames[t, y, x, c]
            current = out[y, x]
            _most_recurring(
                series, n_frames, decision_tolerance, table_keys, table_counts, keys, quotients,
                members, level_counts, recurring,
            )  # fmt: skip
            far = False
            for c in range(n_channels):
                far |= abs(recurring[c] - current[c]) > 2 * decision_tolerance
            if not far:
                continue
            for j in range(n_kept):
                for c in range(n_channels):
                    still[j, c] = frames[cells[x // cell, j], y, x, c]
            votes_current = 2.0 * _agreeing(still, n_kept, current, decision_tolerance) / n_kept
            votes_current += _agreeing(series, n_frames, current, decision_tolerance) / n_frames
            votes = 2.0 * _agreeing(still, n_kept, recurring, decision_tolerance) / n_kept
            votes += _agreeing(series, n_frames, recurring, decision_tolerance) / n_frames
            if votes <= votes_current + _VOTE_MARGIN:
                continue
            for c in range(n_channels):
                n = 0
                for t in range(n_frames):
                    inside = True
                    for k in range(n_channels):
                        if not abs(series[t, k] - recurring[k]) <= tolerance:
                            inside = False
                            break
                    if inside:
                        agreeing[n] = series[t, c]
                        n += 1
                out[y, x, c] = median_in_place(agreeing, n) if n > 0 else recurring[c]
