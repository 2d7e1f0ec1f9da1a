"""The compiled EM kernels, step by step, against scikit-learn and brute force."""

from itertools import combinations

import numpy as np
import pytest

from napari_gmm_background.methods import _em_kernels as kernels


def test_em_matches_sklearn_iteration_for_iteration():
    """From the same starting point, our EM is scikit-learn's EM."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(5)
    for trial in range(20):
        series = (
            np.concatenate([rng.normal(100, 4, 80), rng.normal(100 + 8 * trial, 10, 30)])
            .round()
            .clip(0, 255)
        )
        values, counts = np.unique(series, return_counts=True)
        m = len(values)
        values = np.concatenate([values, np.zeros(8)])
        counts = np.concatenate([counts.astype(float), np.zeros(8)])
        n_components = 2 + trial % 2
        weights, means, variances = (np.empty(n_components) for _ in range(3))
        bounds, prefix, centre = kmeans_bounds(values[:m], counts[:m], n_components)
        kernels._initialize(*prefix, centre, len(series), bounds, 1e-6, weights, means, variances)
        # The prefix sums give the clusters' parameters that a pass over each gives.
        labels = np.repeat(np.arange(n_components), np.diff(bounds))
        for k in range(n_components):
            cluster = np.repeat(values[:m][labels == k], counts[:m][labels == k].astype(int))
            np.testing.assert_allclose(weights[k], len(cluster) / len(series), rtol=1e-14)
            np.testing.assert_allclose(means[k], cluster.mean(), rtol=1e-14)
            np.testing.assert_allclose(variances[k], cluster.var() + 1e-6, rtol=1e-10)
        scratch = (
            np.empty((3 + n_components, m + 1)),
            np.empty((n_components, m), np.int64),
            np.empty((64, 4), np.int64),
        )

        reference = GaussianMixture(
            n_components,
            weights_init=weights / weights.sum(),
            means_init=means[:, None],
            precisions_init=1 / variances[:, None, None],
        ).fit(series[:, None])

        n_iter, converged = kernels._fit_distinct(
            values,
            counts,
            m,
            len(series),
            100,
            1e-3,
            1e-6,
            weights,
            means,
            variances,
            *scratch,
            bounds,
            np.empty((6, n_components)),
        )
        assert n_iter == reference.n_iter_
        # Components may come out in another order.
        ours, theirs = np.argsort(means), np.argsort(reference.means_[:, 0])
        np.testing.assert_allclose(means[ours], reference.means_[theirs, 0], rtol=1e-9)
        np.testing.assert_allclose(weights[ours], reference.weights_[theirs], rtol=1e-9)
        np.testing.assert_allclose(variances[ours], reference.covariances_[theirs, 0, 0], rtol=1e-8)


def kmeans_bounds(values, counts, n_components):
    m = len(values)
    bounds = np.empty(n_components + 1, dtype=np.int64)
    scratch = np.empty((3 + n_components, m + 1))
    centre = kernels._kmeans_bounds(
        values,
        counts,
        m,
        n_components,
        *scratch[:3],
        scratch[3:],
        np.empty((n_components, m), np.int64),
        np.empty((64, 4), np.int64),
        bounds,
    )
    return bounds, scratch[:3], centre


@pytest.mark.parametrize("n_components", [2, 3, 4])
def test_kmeans_initialisation_is_the_exact_optimum(n_components):
    rng = np.random.default_rng(n_components)
    for _ in range(30):
        values = np.unique(rng.integers(0, 60, 18)).astype(float)
        counts = rng.integers(1, 5, len(values)).astype(float)
        m = len(values)
        bounds, _, _ = kmeans_bounds(values, counts, n_components)

        def sse(splits, values=values, counts=counts, m=m):
            edges = (0, *splits, m)
            total = 0.0
            for lo, hi in zip(edges[:-1], edges[1:], strict=True):
                mean = np.average(values[lo:hi], weights=counts[lo:hi])
                total += np.sum(counts[lo:hi] * (values[lo:hi] - mean) ** 2)
            return total

        best = min(combinations(range(1, m), n_components - 1), key=sse)
        assert sse(tuple(bounds[1:-1])) == pytest.approx(sse(best), rel=1e-9, abs=1e-9)


@pytest.mark.parametrize("n_workers", [1, 2, 3])
def test_the_8_bit_histograms_fit_what_the_float_series_fit(n_workers):
    """uint8 pixels go through wide blocks of histograms, the others through sorted
    series; over several blocks, the last one partial, both give the same model."""
    from napari_gmm_background.datasets import synthetic_traffic

    frames, _ = synthetic_traffic(n_frames=60, height=10, width=23, seed=4)
    data = frames.reshape(60, -1)[:, : 2 * kernels.UINT8_BLOCK_SIZE + 77]
    n_pixels = data.shape[1]
    assert n_pixels % kernels.UINT8_BLOCK_SIZE and n_pixels > 2 * kernels.UINT8_BLOCK_SIZE

    def fit(array, is_uint8):
        outputs = (np.empty(n_pixels),) + tuple(np.empty((n_pixels, 2)) for _ in range(3))
        n_iter = np.empty(n_pixels, np.int32)
        kernel = kernels.fit_pixels_kernel(array.dtype)
        for worker in range(n_workers):
            bad = kernel(
                array, 2, 100, 1e-3, 1e-6, *outputs, n_iter, True, is_uint8, worker, n_workers
            )
            assert bad == 0
        return outputs + (n_iter,)

    for histogram, series in zip(fit(data, True), fit(data.astype(np.float64), False), strict=True):
        np.testing.assert_array_equal(histogram, series)
