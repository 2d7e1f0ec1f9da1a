"""Compiled per-pixel EM for 1-D Gaussian mixtures.

The steps follow scikit-learn's ``GaussianMixture`` (``_gaussian_mixture.py``):
k-means initialisation, then alternating E- and M-steps until the mean
log-likelihood per sample changes by less than ``tol``. Each pixel-channel is an
independent 1-D problem, so the kernels work on one pixel's samples at a time
and ``_fit_pixels`` (compiled per dtype by ``fit_pixels_kernel``) and
``fit_histograms`` spread pixels over threads.

Three choices make it fast without changing the answer:

* A pixel's samples are compressed to their distinct sorted values and counts.
  EM with integer sample weights is exactly EM on the repeated samples, and a
  video pixel has far fewer distinct values than frames (8-bit data at most 256).
* The E-step and M-step share one pass: responsibilities are accumulated into
  the sufficient statistics as they are computed, so they are never stored;
  for two components that pass is vectorised (exp and log as polynomials).
* The per-pixel steps are inlined into the pixel loop: a call per pixel that
  passes arrays costs reference counting, which was half the run time.

This module imports numba at import time; import it lazily.
"""

import math

import numba
import numpy as np

# scikit-learn adds this to every component's total responsibility so that an
# empty component does not divide by zero.
_NK_FLOOR = 10.0 * np.finfo(np.float64).eps
_LOG_2PI = math.log(2.0 * math.pi)

# Pixels are handed to threads in blocks: a block of consecutive pixels reads
# each frame's row segment contiguously, which is what the memory likes.
BLOCK_SIZE = 32
# 8-bit blocks are wider: a frame's segment of a block is then whole cache
# lines that one thread reads alone, and their (pixels, 256) histograms
# (256 KB) still sit in the core's L2 cache.
UINT8_BLOCK_SIZE = 256

# The vectorised E-step runs over whole multiples of this many values.
_PAD = 8

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
# Inlined into the caller at numba's level: array arguments then need no
# reference counting per call, which per pixel adds up.
_jit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


@_jit_inline
def block_size(is_uint8):
    """Pixels per block of ``_fit_pixels``: its workers deal out blocks of this many.

    Compiled, so that the kernel and its Python callers share one rule.
    """
    return UINT8_BLOCK_SIZE if is_uint8 else BLOCK_SIZE


@_jit_inline
def _distinct_counts_uint8(hist_row, values, counts):
    """Distinct values (ascending) and counts from a 256-bin histogram.

    Leaves the row zeroed, ready for the next pixel.
    """
    # The filled range, found from the bins in one branch-free (vectorised)
    # pass: cheaper than tracking each sample's minimum and maximum.
    lowest = 255
    highest = 0
    for level in range(256):
        filled = hist_row[level] != 0
        lowest = min(lowest, level if filled else 255)
        highest = max(highest, level if filled else 0)
    m = 0
    for level in range(lowest, highest + 1):
        c = hist_row[level]
        hist_row[level] = 0
        # Write always, advance only on a filled bin: no branch to mispredict.
        values[m] = level
        counts[m] = c
        m += c != 0
    return m


@_jit_inline
def _distinct_counts_sorted(series, values, counts):
    """Distinct values and counts of an already sorted series.

    Returns -1 if the series holds a NaN or an infinity (sorted NaNs sit at
    the end, infinities at either end, so the two ends suffice).
    """
    n = series.shape[0]
    if not (np.isfinite(series[0]) and np.isfinite(series[n - 1])):
        return -1
    m = 0
    values[0] = series[0]
    counts[0] = 1.0
    for i in range(1, n):
        if series[i] == values[m]:
            counts[m] += 1.0
        else:
            m += 1
            values[m] = series[i]
            counts[m] = 1.0
    return m + 1


@_jit_inline
def _segment_sse(prefix_n, prefix_s, prefix_q, lo, hi):
    """Sum of squared deviations from their mean of ``values[lo:hi]``."""
    n = prefix_n[hi] - prefix_n[lo]
    s = prefix_s[hi] - prefix_s[lo]
    return (prefix_q[hi] - prefix_q[lo]) - s * s / n


@_jit_inline
def _kmeans_bounds(
    values, counts, m, n_components, prefix_n, prefix_s, prefix_q, dp_cost, dp_start, stack, bounds
):
    """Optimal k-means labels of sorted distinct values, as contiguous ranges.

    In one dimension an optimal k-means partition is a set of contiguous
    ranges of the sorted values, so a partition is its ``bounds`` (cluster
    ``k`` holds ``values[bounds[k]:bounds[k + 1]]``). Requires
    ``m > n_components``.

    The partition returned has the least within-cluster sum of squares, the
    optimum that scikit-learn's randomly seeded k-means aims at, without its
    run-to-run variation. Two components: every split is tried. More:
    dynamic programming over prefix sums, with divide and conquer on the
    split positions, which only move right as the prefix grows (Gronlund et
    al. 2017), O(n_components m log m).

    ``dp_cost`` and ``dp_start`` are (n_components, >= m) scratch, ``stack``
    is (64, 4) int64 scratch. Returns the value the prefix sums are taken
    about (their d = x - centre), which ``_initialize`` and ``_em_two`` need.
    """
    # Sums about a middle value keep the sums of squares well conditioned
    # (``_em_two`` uses the totals, about the same value).
    centre = values[m // 2]
    prefix_n[0] = 0.0
    prefix_s[0] = 0.0
    prefix_q[0] = 0.0
    # Running sums in registers: as far as the compiler knows the arrays may
    # alias, so summing in them reloads each sum just stored.
    n = 0.0
    s = 0.0
    q = 0.0
    for i in range(m):
        c = counts[i]
        d = values[i] - centre
        n += c
        s += c * d
        q += c * d * d
        prefix_n[i + 1] = n
        prefix_s[i + 1] = s
        prefix_q[i + 1] = q

    bounds[0] = 0
    bounds[n_components] = m
    if n_components == 1:
        return centre
    if n_components == 2:
        # Least sum of squares = largest S_left^2 / n_left + S_right^2 / n_right.
        # All splits are scored in one vectorisable loop, then the first best
        # is picked.
        score = dp_cost[0]
        total_n = prefix_n[m]
        total_s = prefix_s[m]
        for split in range(1, m):
            n_left = prefix_n[split]
            s_left = prefix_s[split]
            s_right = total_s - s_left
            score[split] = s_left * s_left / n_left + s_right * s_right / (total_n - n_left)
        # The best score in a register, not reloaded from the array by index.
        best = 1
        best_score = score[1]
        for split in range(2, m):
            if score[split] > best_score:
                best_score = score[split]
                best = split
        bounds[1] = best
        return centre

    _kmeans_dp(m, n_components, prefix_n, prefix_s, prefix_q, dp_cost, dp_start, stack, bounds)
    return centre


@_jit
def _kmeans_dp(m, n_components, prefix_n, prefix_s, prefix_q, dp_cost, dp_start, stack, bounds):
    """Optimal 1-D k-means split for three or more clusters, into ``bounds``.

    Not inlined: only used with more than two components, and compiled once
    instead of into every kernel that inlines ``_kmeans_bounds``.
    """
    # dp_cost[k, i]: least sum of squares of values[:i + 1] in k + 1 clusters;
    # dp_start[k, i]: where the last of those clusters starts.
    for i in range(m):
        dp_cost[0, i] = _segment_sse(prefix_n, prefix_s, prefix_q, 0, i + 1)
        dp_start[0, i] = 0
    for k in range(1, n_components):
        # Each task: fill rows i in [i_lo, i_hi], whose start lies in [j_lo, j_hi].
        stack[0, 0], stack[0, 1], stack[0, 2], stack[0, 3] = k, m - 1, k, m - 1
        n_tasks = 1
        while n_tasks > 0:
            n_tasks -= 1
            i_lo, i_hi, j_lo, j_hi = (
                stack[n_tasks, 0],
                stack[n_tasks, 1],
                stack[n_tasks, 2],
                stack[n_tasks, 3],
            )
            if i_lo > i_hi:
                continue
            i = (i_lo + i_hi) // 2
            best = np.inf
            best_j = j_lo
            for j in range(j_lo, min(j_hi, i) + 1):
                cost = dp_cost[k - 1, j - 1] + _segment_sse(prefix_n, prefix_s, prefix_q, j, i + 1)
                if cost < best:
                    best = cost
                    best_j = j
            dp_cost[k, i] = best
            dp_start[k, i] = best_j
            stack[n_tasks, 0], stack[n_tasks, 1], stack[n_tasks, 2], stack[n_tasks, 3] = (
                i_lo,
                i - 1,
                j_lo,
                best_j,
            )
            (
                stack[n_tasks + 1, 0],
                stack[n_tasks + 1, 1],
                stack[n_tasks + 1, 2],
                stack[n_tasks + 1, 3],
            ) = i + 1, i_hi, best_j, j_hi
            n_tasks += 2
    end = m - 1
    for k in range(n_components - 1, 0, -1):
        bounds[k] = dp_start[k, end]
        end = bounds[k] - 1


@_jit_inline
def _initialize(
    prefix_n, prefix_s, prefix_q, centre, n_samples, bounds, reg_covar, weights, means, variances
):
    """Gaussian parameters from hard labels, as ``GaussianMixture._initialize``.

    From k-means' prefix sums of c, c d and c d**2 (d = x - ``centre``): a
    cluster's sums are differences of two entries, not a pass over its values.
    """
    n_components = weights.shape[0]
    for k in range(n_components):
        lo = bounds[k]
        hi = bounds[k + 1]
        n = prefix_n[hi] - prefix_n[lo]
        s = prefix_s[hi] - prefix_s[lo]
        q = prefix_q[hi] - prefix_q[lo]
        nk = n + _NK_FLOOR
        shift = s / nk
        # sum c (x - mean)^2 about the mean, expanded about the centre.
        ss = q - 2.0 * shift * s + shift * shift * n
        weights[k] = nk / n_samples
        means[k] = centre + shift
        variances[k] = max(ss, 0.0) / nk + reg_covar


# Flags for the E/M inner loop: reassociation lets LLVM vectorise its sums.
# No 'nnan'/'ninf': the loop never sees them, and callers test for them.
_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
_jit_fast = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)

# exp(-a) is below 5e-18 past this; responsibilities that small are zero.
_EXP_CUTOFF = 40.0


@_jit_fast
def _exp_neg(a):
    """exp(-a) for a >= 0, to about 3e-10 relative, in plain arithmetic.

    libm's exp is a call, which stops LLVM from vectorising the E-step loop;
    a Taylor polynomial on a/128 raised to the 128th power vectorises. The
    error moves means by well under 1e-6 grey levels.
    """
    y = min(a, _EXP_CUTOFF) * (1.0 / 128.0)
    y2 = y * y
    y4 = y2 * y2
    # The Taylor terms to degree 9 by Estrin's scheme: pairs of terms in
    # parallel, then combined. Fewer operations than the nested form
    # 1 - y/9 (1 - y/8 (...)) and half its dependency chain; the E-step
    # runs about a tenth faster.
    a01 = 1.0 - y
    a23 = 0.5 - y * (1.0 / 6.0)
    a45 = 1.0 / 24.0 - y * (1.0 / 120.0)
    a67 = 1.0 / 720.0 - y * (1.0 / 5040.0)
    a89 = 1.0 / 40320.0 - y * (1.0 / 362880.0)
    b03 = a01 + y2 * a23
    b47 = a45 + y2 * a67
    p = b03 + y4 * (b47 + y4 * a89)
    for _ in range(7):
        p = p * p
    return p if a < _EXP_CUTOFF else 0.0


@_jit_fast
def _log_atanh_series(z):
    """log(1 + e) given z = e / (2 + e), for 0 <= e <= 1 (so z <= 1/3).

    log(1 + e) = 2 atanh(z); seven terms leave an error below 3e-8 relative.
    The value only feeds the convergence test, where it shifts the change of
    mean log-likelihood by far less than ``tol``.
    """
    z2 = z * z
    z4 = z2 * z2
    # Estrin's scheme, as in _exp_neg: half the dependency chain of Horner's rule.
    a01 = 1.0 + z2 * (1.0 / 3.0)
    a23 = 1.0 / 5.0 + z2 * (1.0 / 7.0)
    a45 = 1.0 / 9.0 + z2 * (1.0 / 11.0)
    p = a01 + z4 * (a23 + z4 * (a45 + z4 * (1.0 / 13.0)))
    return 2.0 * z * p


@_jit_fast
def _e_step_two(
    values, counts, n_values, log_ratio, half_precision0, mean0, half_precision1, mean1
):
    """E-step for two components, reduced to what the M-step needs.

    With ``lp_k = log_norm_k - half_precision_k * (x - mean_k)**2`` and
    ``log_ratio = log_norm0 - log_norm1``, returns

    * ``sum c * (log p(x) - lp1)``: the log-likelihood is this plus
      ``sum c * lp1``, which the caller gets from the pixel's moments;
    * component 0's responsibility sum and its sums of ``r * d`` and
      ``r * d**2``, ``d = x - mean0``. Component 1's follow, as r1 = c - r0.

    Four running sums instead of seven keep the vectorised loop lean.
    """
    excess = 0.0
    resp_sum0 = 0.0
    sum_d0 = 0.0
    sum_d20 = 0.0
    for i in range(n_values):
        x = values[i]
        c = counts[i]
        d0 = x - mean0
        d1 = x - mean1
        gap = log_ratio - half_precision0 * d0 * d0 + half_precision1 * d1 * d1
        # log(p0 + p1) = max + log(1 + exp(-|gap|)): one exp for two components.
        e = _exp_neg(abs(gap))
        # One division serves both 1 / (1 + e) and e / (2 + e).
        inv = 1.0 / ((1.0 + e) * (2.0 + e))
        excess += c * (max(gap, 0.0) + _log_atanh_series(e * (1.0 + e) * inv))
        r_top = c * (2.0 + e) * inv
        r0 = r_top if gap >= 0.0 else e * r_top
        resp_sum0 += r0
        sum_d0 += r0 * d0
        sum_d20 += r0 * d0 * d0
    return excess, resp_sum0, sum_d0, sum_d20


@_jit_inline
def _e_step_general(
    values, counts, n_values, means, log_norm, half_precision, log_prob, resp_sum, sum_d, sum_d2
):
    """E-step for any number of components, with the M-step sums it feeds.

    Zeroes and fills ``resp_sum``, ``sum_d`` and ``sum_d2``; returns the
    summed log-likelihood. ``log_prob`` is scratch.
    """
    n_components = means.shape[0]
    resp_sum[:] = 0.0
    sum_d[:] = 0.0
    sum_d2[:] = 0.0
    log_likelihood = 0.0
    for i in range(n_values):
        x = values[i]
        c = counts[i]
        top = -np.inf
        for k in range(n_components):
            d = x - means[k]
            lp = log_norm[k] - half_precision[k] * d * d
            log_prob[k] = lp
            if lp > top:
                top = lp
        total = 0.0
        for k in range(n_components):
            e = math.exp(log_prob[k] - top)
            log_prob[k] = e
            total += e
        log_likelihood += c * (top + math.log(total))
        inv_total = c / total
        for k in range(n_components):
            r = log_prob[k] * inv_total
            d = x - means[k]
            resp_sum[k] += r
            sum_d[k] += r * d
            sum_d2[k] += r * d * d
    return log_likelihood


@_jit
def _log_norm(weight, half_precision):
    """log(weight) plus the log of the Gaussian's normalising constant.

    From ``half_precision = 1 / (2 variance)``, which the E-step needs anyway:
    log(w / sqrt(2 pi var)) = log(w^2 / (pi / half_precision)) / 2.
    """
    return 0.5 * math.log(weight * weight * half_precision * (1.0 / math.pi))


@_jit
def _m_step_component(resp_sum, sum_d, sum_d2, mean, reg_covar):
    """New (unnormalised weight, mean, variance) of one component.

    The sums are about the component's previous ``mean``: near convergence
    the new mean is close to it, so the variance is computed without the
    cancellation that E[x^2] - mean^2 suffers on 16-bit data.
    """
    nk = resp_sum + _NK_FLOOR
    inverse = 1.0 / nk
    shift = sum_d * inverse
    # sum r (x - new_mean)^2, expanded about the old mean.
    ss = sum_d2 - 2.0 * shift * sum_d + shift * shift * resp_sum
    if ss < 0.0:
        ss = 0.0
    return nk, mean + shift, ss * inverse + reg_covar


@_jit_inline
def _em_two(
    values,
    counts,
    n_values,
    n_samples,
    max_iter,
    tol,
    reg_covar,
    weights,
    means,
    variances,
    centre,
    total,
    moment1,
    moment2,
):
    """EM for two components; return (n_iter, converged).

    The same iteration as ``_em_general``, with the parameters held in
    scalars, and component 1's statistics derived from the pixel's moments
    minus component 0's (responsibilities sum to the count). Component 0 is
    made the lighter one, so the heavier, background component is the
    derived one: a difference of large sums is precise for it, and only
    loses relative precision for a component with almost no weight.
    ``total``, ``moment1`` and ``moment2`` are the pixel's sums of c, c d and
    c d**2 with d = x - ``centre`` (k-means' prefix sums already hold them).
    """
    light = 0 if weights[0] <= weights[1] else 1
    w0, w1 = weights[light], weights[1 - light]
    mu0, mu1 = means[light], means[1 - light]
    v0, v1 = variances[light], variances[1 - light]

    lower_bound = -np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count outlives the loop
        previous = lower_bound
        half_precision0 = 0.5 / v0
        half_precision1 = 0.5 / v1
        log_norm1 = _log_norm(w1, half_precision1)
        excess, r0, d0, dd0 = _e_step_two(
            values,
            counts,
            n_values,
            _log_norm(w0, half_precision0) - log_norm1,
            half_precision0,
            mu0,
            half_precision1,
            mu1,
        )
        # Component 1's sums about its mean: totals minus component 0's.
        offset = mu1 - centre
        shift = mu0 - mu1
        all_d1 = moment1 - offset * total
        all_dd1 = moment2 - 2.0 * offset * moment1 + offset * offset * total
        r1 = max(total - r0, 0.0)
        d1 = all_d1 - (d0 + shift * r0)
        dd1 = all_dd1 - (dd0 + 2.0 * shift * d0 + shift * shift * r0)
        log_likelihood = log_norm1 * total - half_precision1 * all_dd1 + excess

        n0, mu0, v0 = _m_step_component(r0, d0, dd0, mu0, reg_covar)
        n1, mu1, v1 = _m_step_component(r1, d1, dd1, mu1, reg_covar)
        inverse_total = 1.0 / (n0 + n1)
        w0 = n0 * inverse_total
        w1 = n1 * inverse_total
        lower_bound = log_likelihood / n_samples
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    weights[0], weights[1] = w0, w1
    means[0], means[1] = mu0, mu1
    variances[0], variances[1] = v0, v1
    return n_iter, converged


@_jit_inline
def _em_general(
    values,
    counts,
    n_values,
    n_samples,
    max_iter,
    tol,
    reg_covar,
    weights,
    means,
    variances,
    scratch,
):
    """EM for any number of components; return (n_iter, converged).

    Mirrors ``BaseMixture.fit_predict``: each iteration is an E-step under
    the current parameters, then the M-step; the lower bound is the mean
    log-likelihood per sample of that E-step; stop once it changes by less
    than ``tol``. ``scratch`` is (6, n_components).
    """
    n_components = weights.shape[0]
    log_norm, half_precision, log_prob, resp_sum, sum_d, sum_d2 = (
        scratch[0],
        scratch[1],
        scratch[2],
        scratch[3],
        scratch[4],
        scratch[5],
    )
    lower_bound = -np.inf
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - the count outlives the loop
        previous = lower_bound
        for k in range(n_components):
            half_precision[k] = 0.5 / variances[k]
            log_norm[k] = _log_norm(weights[k], half_precision[k])
        log_likelihood = _e_step_general(
            values,
            counts,
            n_values,
            means,
            log_norm,
            half_precision,
            log_prob,
            resp_sum,
            sum_d,
            sum_d2,
        )
        nk_total = 0.0
        for k in range(n_components):
            nk, means[k], variances[k] = _m_step_component(
                resp_sum[k], sum_d[k], sum_d2[k], means[k], reg_covar
            )
            weights[k] = nk
            nk_total += nk
        weights /= nk_total
        lower_bound = log_likelihood / n_samples
        if abs(lower_bound - previous) < tol:
            converged = True
            break
    return n_iter, converged


@_jit_inline
def _fit_distinct(
    values,
    counts,
    m,
    n_samples,
    max_iter,
    tol,
    reg_covar,
    weights,
    means,
    variances,
    kmeans_scratch,
    dp_start,
    stack,
    bounds,
    scratch,
):
    """Fit one pixel's mixture from its distinct values; return (n_iter, converged).

    ``values`` and ``counts`` need room for ``m`` rounded up to a multiple of
    ``_PAD``; ``kmeans_scratch`` is (3 + n_components, > m), ``dp_start``
    (n_components, >= m) and ``stack`` (64, 4), see ``_kmeans_bounds``. With no
    more distinct values than components the maximum-likelihood mixture is
    exact: one component per value, ``reg_covar`` as variance; spare
    components get zero weight, the pixel's mean and ``reg_covar``.
    """
    n_components = weights.shape[0]
    if m <= n_components:
        overall = 0.0
        for i in range(m):
            overall += counts[i] * values[i]
        overall /= n_samples
        for k in range(n_components):
            if k < m:
                weights[k] = counts[k] / n_samples
                means[k] = values[k]
            else:
                weights[k] = 0.0
                means[k] = overall
            variances[k] = reg_covar
        return 0, True

    prefix = kmeans_scratch[:3]
    dp_cost = kmeans_scratch[3:]
    centre = _kmeans_bounds(
        values,
        counts,
        m,
        n_components,
        prefix[0],
        prefix[1],
        prefix[2],
        dp_cost,
        dp_start,
        stack,
        bounds,
    )
    _initialize(
        prefix[0],
        prefix[1],
        prefix[2],
        centre,
        n_samples,
        bounds,
        reg_covar,
        weights,
        means,
        variances,
    )

    # Pad to whole SIMD vectors with zero-count copies of the last value, so
    # the vectorised E-step has no scalar remainder. They add nothing.
    m_padded = (m + _PAD - 1) // _PAD * _PAD
    for i in range(m, m_padded):
        values[i] = values[m - 1]
        counts[i] = 0.0

    if n_components == 2:
        return _em_two(
            values,
            counts,
            m_padded,
            n_samples,
            max_iter,
            tol,
            reg_covar,
            weights,
            means,
            variances,
            centre,
            prefix[0][m],
            prefix[1][m],
            prefix[2][m],
        )
    return _em_general(
        values,
        counts,
        m_padded,
        n_samples,
        max_iter,
        tol,
        reg_covar,
        weights,
        means,
        variances,
        scratch,
    )


@_jit_inline
def _background_index(weights):
    """Most weighted component; ties go to the first, like ``np.argmax``."""
    best = 0
    for k in range(1, weights.shape[0]):
        if weights[k] > weights[best]:
            best = k
    return best


@_jit_inline
def _fit_and_store(
    values,
    counts,
    m,
    n_samples,
    max_iter,
    tol,
    reg_covar,
    weights,
    means,
    variances,
    kmeans_scratch,
    dp_start,
    stack,
    bounds,
    scratch,
    p,
    background,
    weights_out,
    means_out,
    variances_out,
    n_iter_out,
    store_model,
):
    """Fit pixel ``p`` from its distinct values and write its outputs.

    The arguments from ``weights`` to ``scratch`` are ``_fit_scratch``'s
    buffers, unpacked once per worker: unpacking them per pixel costs
    reference counting.
    """
    n_iter, converged = _fit_distinct(
        values,
        counts,
        m,
        n_samples,
        max_iter,
        tol,
        reg_covar,
        weights,
        means,
        variances,
        kmeans_scratch,
        dp_start,
        stack,
        bounds,
        scratch,
    )
    background[p] = means[_background_index(weights)]
    if store_model:
        weights_out[p, :] = weights
        means_out[p, :] = means
        variances_out[p, :] = variances
        n_iter_out[p] = n_iter if converged else -n_iter


@_jit_inline
def _fit_scratch(n_components, n_distinct_max):
    """Per-worker buffers for ``_fit_and_store``, allocated once per worker."""
    return (
        np.empty(n_components, dtype=np.float64),
        np.empty(n_components, dtype=np.float64),
        np.empty(n_components, dtype=np.float64),
        np.empty((3 + n_components, n_distinct_max + 1), dtype=np.float64),
        np.empty((n_components, n_distinct_max), dtype=np.int64),
        np.empty((64, 4), dtype=np.int64),
        np.empty(n_components + 1, dtype=np.int64),
        np.empty((6, n_components), dtype=np.float64),
    )


def _fit_pixels(
    data,
    n_components,
    max_iter,
    tol,
    reg_covar,
    background,
    weights_out,
    means_out,
    variances_out,
    n_iter_out,
    store_model,
    is_uint8,
    worker,
    n_workers,
):
    """Fit ``worker``'s share of the columns of ``data`` (frames x pixels); its bad pixels.

    Blocks of pixels are dealt out: worker ``w`` of ``n_workers`` fits blocks
    ``w, w + n_workers, ...``, so uneven blocks even out, and
    :func:`napari_gmm_background._threads.on_workers` runs the workers.

    ``background[p]`` receives the mean of pixel ``p``'s most weighted
    component. With ``store_model`` the fitted ``weights_out``, ``means_out``
    and ``variances_out`` (pixels x components) and ``n_iter_out`` (negative
    where EM hit ``max_iter``) are filled as well. A pixel with a NaN or an
    infinite sample is counted as bad and its outputs are NaN. ``is_uint8``
    selects the histogram path, valid only for uint8 ``data``.
    """
    n_samples, n_pixels = data.shape
    size = block_size(is_uint8)
    n_blocks = (n_pixels + size - 1) // size
    n_distinct_max = (256 if is_uint8 else n_samples) + _PAD
    bad = 0
    # Per-worker scratch, allocated once: the pixel loop allocates nothing.
    # Histograms start zeroed and are zeroed again as they are read.
    hist = np.zeros((size if is_uint8 else 1, 256 if is_uint8 else 1), dtype=np.int32)
    series = np.empty((1 if is_uint8 else size, 1 if is_uint8 else n_samples), dtype=np.float64)
    values = np.empty(n_distinct_max, dtype=np.float64)
    counts = np.empty(n_distinct_max, dtype=np.float64)
    (weights, means, variances, kmeans_scratch, dp_start, stack, bounds, scratch) = _fit_scratch(
        n_components, n_distinct_max
    )

    for block in range(worker, n_blocks, n_workers):
        start = block * size
        stop = min(start + size, n_pixels)
        width = stop - start
        # Gather the block frame by frame: each read is a contiguous run.
        if is_uint8:
            for t in range(n_samples):
                for j in range(width):
                    hist[j, int(data[t, start + j])] += 1
        else:
            for t in range(n_samples):
                for j in range(width):
                    series[j, t] = data[t, start + j]

        for j in range(width):
            p = start + j
            if is_uint8:
                m = _distinct_counts_uint8(hist[j], values, counts)
            else:
                row = series[j]
                row.sort()
                m = _distinct_counts_sorted(row, values, counts)
            if m < 0:
                bad += 1
                background[p] = np.nan
                if store_model:
                    weights_out[p, :] = np.nan
                    means_out[p, :] = np.nan
                    variances_out[p, :] = np.nan
                    n_iter_out[p] = 0
                continue
            _fit_and_store(
                values,
                counts,
                m,
                n_samples,
                max_iter,
                tol,
                reg_covar,
                weights,
                means,
                variances,
                kmeans_scratch,
                dp_start,
                stack,
                bounds,
                scratch,
                p,
                background,
                weights_out,
                means_out,
                variances_out,
                n_iter_out,
                store_model,
            )
    return bad


# Pixels whose histogram rows are filled together.
HISTOGRAM_BLOCK = 64


@_jit
def accumulate_histograms(frames, hist, block_start, block_stop):
    """Add ``frames`` (frames x pixels, uint8) to per-pixel 256-bin ``hist``.

    Pixel blocks ``block_start:block_stop`` of :data:`HISTOGRAM_BLOCK`;
    within a block all frames are added before moving on, so the block's
    histogram rows stay in cache.
    """
    n_frames, n_pixels = frames.shape
    block = HISTOGRAM_BLOCK
    for b in range(block_start, block_stop):
        start = b * block
        stop = min(start + block, n_pixels)
        for t in range(n_frames):
            for p in range(start, stop):
                hist[p, frames[t, p]] += 1


@_jit
def fit_histograms(
    hist,
    n_samples,
    n_components,
    max_iter,
    tol,
    reg_covar,
    background,
    weights_out,
    means_out,
    variances_out,
    n_iter_out,
    store_model,
    worker,
    n_workers,
):
    """``_fit_pixels`` for pixels given as 256-bin histograms of 8-bit values.

    The same distinct values and counts as the frames they count, so the
    same fit, bit for bit. ``hist`` is left as it is. Worker ``worker`` of
    ``n_workers`` fits pixels ``worker, worker + n_workers, ...``.
    """
    n_pixels = hist.shape[0]
    values = np.empty(256 + _PAD, dtype=np.float64)
    counts = np.empty(256 + _PAD, dtype=np.float64)
    (weights, means, variances, kmeans_scratch, dp_start, stack, bounds, scratch) = _fit_scratch(
        n_components, 256 + _PAD
    )
    for p in range(worker, n_pixels, n_workers):
        m = 0
        for level in range(256):
            c = hist[p, level]
            values[m] = level
            counts[m] = c
            m += c != 0
        _fit_and_store(
            values,
            counts,
            m,
            n_samples,
            max_iter,
            tol,
            reg_covar,
            weights,
            means,
            variances,
            kmeans_scratch,
            dp_start,
            stack,
            bounds,
            scratch,
            p,
            background,
            weights_out,
            means_out,
            variances_out,
            n_iter_out,
            store_model,
        )


def _kernel_signature(dtype):
    array2d = numba.types.Array(numba.from_dtype(np.dtype(dtype)), 2, "A", readonly=True)
    array1d_out = numba.types.Array(numba.float64, 1, "A")
    model_out = numba.types.Array(numba.float64, 2, "A")
    n_iter_out = numba.types.Array(numba.int32, 1, "A")
    return numba.int64(
        array2d,
        numba.int64,
        numba.int64,
        numba.float64,
        numba.float64,
        array1d_out,
        model_out,
        model_out,
        model_out,
        n_iter_out,
        numba.boolean,
        numba.boolean,
        numba.int64,
        numba.int64,
    )


_KERNELS = {}


def fit_pixels_kernel(dtype):
    """The compiled ``_fit_pixels`` for a uint8 or float64 frames x pixels array.

    One signature per dtype with 'A' layout, so contiguous and strided views
    share one compiled (and cached) kernel instead of one each. Serial and
    releasing the GIL: threads run its workers.
    """
    dtype = np.dtype(dtype)
    if dtype not in _KERNELS:
        _KERNELS[dtype] = numba.njit(
            [_kernel_signature(dtype)], cache=True, nogil=True, error_model="numpy"
        )(_fit_pixels)
    return _KERNELS[dtype]
