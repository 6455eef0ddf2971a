"""Chapters 7 and 8's tools against brute-force references written here, pair by pair."""

from __future__ import annotations

import numpy as np
import pytest

from vaebook import downstream


def pairwise_auroc(known, unknown):
    """P(unknown > known) + P(equal) / 2 over every pair, by brute force."""
    known, unknown = np.asarray(known)[:, None], np.asarray(unknown)[None, :]
    return float(np.mean((unknown > known) + 0.5 * (unknown == known)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_equals_the_pairwise_count_with_ties(seed):
    generator = np.random.default_rng(seed)
    # Rounded scores make many ties, across and within the two groups.
    known = np.round(generator.normal(0.0, 1.0, 57), 1)
    unknown = np.round(generator.normal(0.7, 1.0, 43), 1)
    assert downstream.auroc(known, unknown) == pytest.approx(pairwise_auroc(known, unknown))


def test_auroc_extremes_and_symmetry():
    assert downstream.auroc([0, 1, 2], [3, 4]) == 1.0
    assert downstream.auroc([3, 4], [0, 1, 2]) == 0.0
    assert downstream.auroc([1, 1], [1, 1, 1]) == 0.5
    generator = np.random.default_rng(3)
    a, b = generator.normal(size=20), generator.normal(size=30)
    assert downstream.auroc(a, b) == pytest.approx(1.0 - downstream.auroc(b, a))


def test_roc_curve_steps_and_its_area_is_the_auroc():
    generator = np.random.default_rng(4)
    known = np.round(generator.normal(0.0, 1.0, 80), 1)
    unknown = np.round(generator.normal(1.0, 1.0, 60), 1)
    curve = downstream.roc_curve(known, unknown)
    fpr, tpr = curve["fpr"], curve["tpr"]
    assert fpr[0] == tpr[0] == 0.0 and fpr[-1] == tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert len(fpr) == len(curve["thresholds"]) + 1
    # Each point flags the scores at or above its threshold, counted by brute force.
    for t, x, y in zip(curve["thresholds"], fpr[1:], tpr[1:]):
        assert x == np.mean(known >= t) and y == np.mean(unknown >= t)
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(downstream.auroc(known, unknown))


@pytest.mark.parametrize(
    ("known", "unknown", "message"),
    [
        ([], [1.0], "non-empty 1-D"),
        ([[1.0]], [1.0], "non-empty 1-D"),
        ([1.0, np.nan], [1.0], "NaN or infinite"),
        ([1.0], ["a"], "array of numbers"),
    ],
)
def test_scores_are_checked(known, unknown, message):
    with pytest.raises(ValueError, match=message):
        downstream.auroc(known, unknown)


def test_sample_labelled_is_balanced_reproducible_and_seeded():
    labels = np.repeat(np.arange(4), [10, 12, 9, 30])
    first = downstream.sample_labelled(labels, 3, seed=0)
    assert np.array_equal(first, downstream.sample_labelled(labels, 3, seed=0))
    assert not np.array_equal(first, downstream.sample_labelled(labels, 3, seed=1))
    assert len(np.unique(first)) == 12 and np.all(np.diff(first) > 0)
    assert np.array_equal(np.bincount(labels[first]), [3, 3, 3, 3])
    with pytest.raises(ValueError, match="Class 2 has 9 examples; cannot draw 10"):
        downstream.sample_labelled(labels, 10)
    with pytest.raises(ValueError, match="per_class"):
        downstream.sample_labelled(labels, 0)
    with pytest.raises(ValueError, match="got -1"):
        downstream.sample_labelled(np.array([-1, 0, 0]), 1)


def brute_force_neighbours(queries, database, k, exclude_self=False):
    """Sorts every distance, ties by index, in the most direct way."""
    found = []
    for i, query in enumerate(queries):
        distances = [
            (float(np.sum((query - row) ** 2)), j)
            for j, row in enumerate(database)
            if not (exclude_self and i == j)
        ]
        found.append([j for _, j in sorted(distances)[:k]])
    return np.array(found)


@pytest.mark.parametrize("exclude_self", [False, True])
def test_nearest_neighbours_match_brute_force_for_any_batch_size(exclude_self):
    generator = np.random.default_rng(5)
    # Small integer coordinates give exact ties, which must be ordered by index.
    database = generator.integers(0, 3, size=(40, 2, 3)).astype(float)
    queries = database if exclude_self else generator.integers(0, 3, size=(15, 2, 3))
    expected = brute_force_neighbours(
        queries.reshape(len(queries), -1), database.reshape(40, -1), 5, exclude_self
    )
    for batch_size in (1, 7, 1000):
        found = downstream.nearest_neighbours(
            queries, database, 5, exclude_self=exclude_self, batch_size=batch_size
        )
        assert np.array_equal(found, expected)


def test_nearest_neighbours_checks_its_input():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="3 features per row but the database has 2"):
        downstream.nearest_neighbours(x, np.zeros((4, 2)), 1)
    with pytest.raises(ValueError, match="only 3 candidates"):
        downstream.nearest_neighbours(x, x, 4, exclude_self=True)
    with pytest.raises(ValueError, match="exclude_self needs"):
        downstream.nearest_neighbours(x[:2], x, 1, exclude_self=True)
    with pytest.raises(ValueError, match="exclude_self needs"):
        downstream.nearest_neighbours(x + 1, x, 1, exclude_self=True)


def test_nearest_neighbours_rank_near_duplicates_exactly():
    # Large coordinates and neighbours 1e-7 apart: |q|^2 - 2 q.d + |d|^2 cancels to
    # noise here, so the ranking must come from the direct distances.
    generator = np.random.default_rng(9)
    base = generator.uniform(100.0, 200.0, size=(50, 30))
    database = np.concatenate([base, base + 1e-7, base])  # copies at 0 and 100
    found = downstream.nearest_neighbours(base, database, 3)
    for i in range(50):
        assert list(found[i]) == [i, i + 100, i + 50]


def sorted_neighbours(queries, database, k, exclude_self=False):
    """The brute-force reference, vectorised for larger databases (exact float64)."""
    queries = queries.reshape(len(queries), -1)
    database = database.reshape(len(database), -1)
    distances = np.square(queries[:, None, :] - database[None, :, :]).sum(axis=2)
    if exclude_self:
        np.fill_diagonal(distances, np.inf)
    index = np.broadcast_to(np.arange(len(database)), distances.shape)
    return np.lexsort((index, distances), axis=1)[:, :k]


@pytest.mark.parametrize("exclude_self", [False, True])
def test_nearest_neighbours_search_a_subset_of_a_large_database(exclude_self):
    # 4,100 rows: the search bounds each row's k-th distance from every second column.
    # Small integer coordinates give many exact ties.
    database = np.random.default_rng(6).integers(0, 4, size=(4100, 3)).astype(float)
    queries = database[:300] if not exclude_self else database
    found = downstream.nearest_neighbours(queries, database, 7, exclude_self=exclude_self)
    expected = sorted_neighbours(queries[:300], database, 7, exclude_self)
    assert np.array_equal(found[:300], expected)


def test_nearest_neighbours_with_k_beyond_the_subset():
    # Even columns near the queries, odd ones far: a subset of the even columns alone
    # would not hold k = 2,500 neighbours.
    database = np.where(np.arange(4000) % 2 == 0, 0.0, 100.0)[:, None]
    database = database + np.arange(4000)[:, None] * 1e-3
    queries = np.array([[0.0], [10.5], [150.0]])
    found = downstream.nearest_neighbours(queries, database, 2500)
    assert np.array_equal(found, sorted_neighbours(queries, database, 2500))


@pytest.mark.parametrize("offset", [0.0, 1e3, 1e19])
def test_nearest_neighbours_survive_offsets_outliers_and_large_coordinates(offset):
    generator = np.random.default_rng(8)
    database = generator.normal(size=(3000, 5)) + offset
    database[17] = offset + 300.0  # one outlier row
    queries = database[:50] + generator.normal(scale=0.01, size=(50, 5))
    found = downstream.nearest_neighbours(queries, database, 4)
    assert np.array_equal(found, sorted_neighbours(queries, database, 4))


def test_precision_at_k_counts_matching_labels():
    neighbours = np.array([[0, 1], [2, 3]])
    assert downstream.precision_at_k(neighbours, [0, 1], [0, 1, 1, 1]) == 0.75
    with pytest.raises(ValueError, match="index a database of 4 rows"):
        downstream.precision_at_k(np.array([[4]]), [0], [0, 1, 1, 1])


def newton_softmax(x, labels, classes, l2, steps=30):
    """Penalised softmax regression by Newton's method on (weights, bias), in full."""
    n, d = x.shape
    targets = np.eye(classes)[labels]
    design = np.hstack([x, np.ones((n, 1))])  # bias as a last, unpenalised feature
    theta = np.zeros((d + 1) * classes)
    penalty = np.diag(np.tile(np.r_[np.full(d, l2), 0.0], classes))
    for _ in range(steps):
        logits = design @ theta.reshape(classes, d + 1).T
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        gradient = ((probs - targets).T @ design).ravel() / n + penalty @ theta
        hessian = np.zeros(((d + 1) * classes,) * 2)
        for a in range(classes):
            for b in range(classes):
                weight = probs[:, a] * ((a == b) - probs[:, b])
                block = design.T @ (design * weight[:, None]) / n
                hessian[a * (d + 1) : (a + 1) * (d + 1), b * (d + 1) : (b + 1) * (d + 1)] = block
        # The softmax's Hessian is singular along a shift of all classes; a tiny ridge
        # picks the solution with the fewest shifts, which has the same probabilities.
        theta -= np.linalg.solve(hessian + penalty + 1e-10 * np.eye(len(theta)), gradient)
    return theta.reshape(classes, d + 1)


def test_softmax_regression_reaches_the_newton_solution():
    generator = np.random.default_rng(6)
    x = generator.normal(size=(60, 4)) * [1.0, 3.0, 0.5, 2.0] + [0.0, 1.0, -2.0, 5.0]
    labels = np.argmax(x[:, :3] + generator.normal(size=(60, 3)), axis=1)
    model = downstream.SoftmaxRegression(l2=0.1, tolerance=1e-9).fit(x, labels)
    standardised = (x - x.mean(0)) / x.std(0)
    theta = newton_softmax(standardised, labels, 3, 0.1)
    logits = standardised @ theta[:, :-1].T + theta[:, -1]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(model.predict_proba(x), expected, atol=1e-6)
    assert np.allclose(model.weights, theta[:, :-1].T, atol=1e-5)


def test_softmax_regression_without_standardising_uses_the_features_as_given():
    generator = np.random.default_rng(6)
    x = generator.normal(size=(60, 4)) * [1.0, 3.0, 0.5, 2.0] + [0.0, 1.0, -2.0, 5.0]
    labels = np.argmax(x[:, :3] + generator.normal(size=(60, 3)), axis=1)
    model = downstream.SoftmaxRegression(l2=0.1, tolerance=1e-9, standardise=False)
    model.fit(x, labels)
    theta = newton_softmax(x, labels, 3, 0.1)
    assert np.allclose(model.weights, theta[:, :-1].T, atol=1e-5)
    # The penalty now weighs the raw scales: another solution than the default's.
    default = downstream.SoftmaxRegression(l2=0.1, tolerance=1e-9).fit(x, labels)
    assert not np.allclose(model.predict_proba(x), default.predict_proba(x), atol=1e-3)
    with pytest.raises(TypeError, match="standardise must be True or False"):
        downstream.SoftmaxRegression(standardise="no")


def test_softmax_regression_gradient_against_finite_differences():
    generator = np.random.default_rng(7)
    x = generator.normal(size=(20, 3))
    targets = np.eye(4)[generator.integers(0, 4, 20)]
    weights, bias = generator.normal(size=(3, 4)), generator.normal(size=4)
    model = downstream.SoftmaxRegression(l2=0.3)
    _, grad_w, grad_b = model.objective_and_gradient(x, targets, weights, bias)
    step = 1e-6
    for index in np.ndindex(weights.shape):
        shift = np.zeros_like(weights)
        shift[index] = step
        up, *_ = model.objective_and_gradient(x, targets, weights + shift, bias)
        down, *_ = model.objective_and_gradient(x, targets, weights - shift, bias)
        assert (up - down) / (2 * step) == pytest.approx(grad_w[index], abs=1e-7)
    for index in range(4):
        shift = np.eye(4)[index] * step
        up, *_ = model.objective_and_gradient(x, targets, weights, bias + shift)
        down, *_ = model.objective_and_gradient(x, targets, weights, bias - shift)
        assert (up - down) / (2 * step) == pytest.approx(grad_b[index], abs=1e-7)


def test_softmax_regression_converges_with_more_features_than_rows():
    # The few-label regime: 100 rows of 300 features, some constant, others with a
    # spread of rounding size only; the fit must converge and stay finite on new rows.
    generator = np.random.default_rng(10)
    x = generator.normal(size=(100, 300))
    x[:, :20] = 0.1  # constant; its computed standard deviation is not exactly 0
    labels = np.argmax(x[:, 20:30], axis=1)
    model = downstream.SoftmaxRegression(l2=1e-2, tolerance=1e-6).fit(x, labels)
    assert model.converged and model.steps < model.max_steps
    _, grad_w, grad_b = model.objective_and_gradient(
        (x - model.mean) / model.scale, np.eye(10)[labels], model.weights, model.bias
    )
    assert max(np.abs(grad_w).max(), np.abs(grad_b).max()) < 1e-6
    shifted = x.copy()
    shifted[:, :20] += 1e-9
    assert np.allclose(model.predict_proba(shifted), model.predict_proba(x), atol=1e-6)


def test_softmax_regression_warns_when_it_runs_out_of_steps():
    generator = np.random.default_rng(11)
    x, labels = generator.normal(size=(30, 5)), np.repeat(np.arange(3), 10)
    with pytest.warns(RuntimeWarning, match="stopped after max_steps=3"):
        model = downstream.SoftmaxRegression(max_steps=3).fit(x, labels)
    assert not model.converged


def test_softmax_regression_separates_clusters_and_checks_input():
    generator = np.random.default_rng(8)
    centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    labels = np.repeat(np.arange(3), 30)
    x = centres[labels] + generator.normal(size=(90, 2))
    model = downstream.SoftmaxRegression(l2=1e-3).fit(x, labels)
    assert model.error_rate(x, labels) < 0.05
    with pytest.raises(ValueError, match="fitted to 2"):
        model.predict(np.zeros((3, 5)))
    with pytest.raises(RuntimeError, match="Call fit"):
        downstream.SoftmaxRegression().predict(x)
    with pytest.raises(ValueError, match="3 entries for 90 images"):
        downstream.SoftmaxRegression().fit(x, labels[:3])


def test_choose_l2_checks_its_input():
    labels = np.repeat(np.arange(3), 10)
    x = np.random.default_rng(12).normal(size=(30, 5))
    with pytest.raises(ValueError, match="at least folds=5"):
        downstream.choose_l2(x[:12], labels[:12])
    with pytest.raises(ValueError, match="folds must be at least 2"):
        downstream.choose_l2(x, labels, folds=1)
    with pytest.raises(ValueError, match="grid is empty"):
        downstream.choose_l2(x, labels, grid=())


def test_choose_l2_scores_each_fold_by_brute_force():
    # Recount the chosen penalty's cross-validated errors by hand for the same split.
    generator = np.random.default_rng(13)
    labels = np.repeat(np.arange(2), 6)
    x = generator.normal(size=(12, 3)) + labels[:, None]
    grid = (1e-3, 1e-1, 10.0)
    chosen = downstream.choose_l2(x, labels, grid=grid, folds=3, seed=4)
    order = np.random.default_rng(4)
    fold_of = np.empty(12, dtype=int)
    for label in (0, 1):
        members = order.permutation(np.flatnonzero(labels == label))
        fold_of[members] = np.arange(6) % 3
    errors = {}
    for l2 in grid:
        errors[l2] = sum(
            int(
                np.sum(
                    downstream.SoftmaxRegression(l2=l2)
                    .fit(x[fold_of != f], labels[fold_of != f])
                    .predict(x[fold_of == f])
                    != labels[fold_of == f]
                )
            )
            for f in range(3)
        )
    best = min(errors.values())
    assert chosen == max(l2 for l2 in grid if errors[l2] == best)


def test_compressed_bits_are_deflate_lengths_of_the_8_bit_images():
    import zlib

    generator = np.random.default_rng(5)
    noise = generator.random((2, 28, 28))
    blank = np.zeros((1, 28, 28))
    stroke = blank.copy()
    stroke[0, 5:23, 13:15] = 1.0
    x = np.concatenate([noise, blank, stroke])
    bits = downstream.compressed_bits(x)
    expected = [
        8 * len(zlib.compress(np.round(image * 255).astype(np.uint8).tobytes(), 9)) for image in x
    ]
    assert bits.tolist() == expected
    # Noise is the most complex, a blank image the least.
    assert bits[2] < bits[3] < bits[0]


def test_compressed_bits_rejects_bad_images():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        downstream.compressed_bits(np.full((2, 4, 4), 1.5))
    with pytest.raises(ValueError, match="NaN|finite"):
        downstream.compressed_bits(np.full((2, 4, 4), np.nan))
    with pytest.raises(ValueError, match="one row per example"):
        downstream.compressed_bits(np.zeros(5))


def dense_label_spreading(x, labels, k, alpha, classes):
    """Zhou et al.'s closed form with a dense graph built by brute force."""
    n = len(x)
    near = brute_force_neighbours(x, x, k, exclude_self=True)
    graph = np.zeros((n, n))
    for i in range(n):
        graph[i, near[i]] = 1.0
    graph = np.maximum(graph, graph.T)
    inverse_root = 1.0 / np.sqrt(graph.sum(axis=1))
    spread = inverse_root[:, None] * graph * inverse_root[None, :]
    targets = np.zeros((n, classes))
    for i, label in enumerate(labels):
        if label >= 0:
            targets[i, label] = 1.0
    return (1 - alpha) * np.linalg.solve(np.eye(n) - alpha * spread, targets)


@pytest.mark.parametrize("alpha", [0.5, 0.99])
def test_label_spreading_matches_the_closed_form(alpha):
    generator = np.random.default_rng(3)
    x = generator.normal(size=(60, 4))
    labels = np.full(60, -1)
    labels[[0, 5, 9, 20]] = [0, 1, 2, 1]
    spreading = downstream.LabelSpreading(x, k=4, alpha=alpha, tolerance=1e-12)
    spreading.fit(labels, num_classes=3)
    expected = dense_label_spreading(x, labels, 4, alpha, 3)
    np.testing.assert_allclose(spreading.scores, expected, rtol=1e-9, atol=1e-12)
    assert np.array_equal(spreading.predict(), expected.argmax(axis=1))


def test_label_spreading_labels_two_clusters_from_one_label_each():
    generator = np.random.default_rng(4)
    # Two well separated blobs; one labelled point in each.
    x = np.concatenate([generator.normal(0, 1, (50, 2)), generator.normal(20, 1, (50, 2))])
    truth = np.repeat([0, 1], 50)
    labels = np.full(100, -1)
    labels[[7, 77]] = [0, 1]
    spreading = downstream.LabelSpreading(x, k=5).fit(labels)
    assert np.array_equal(spreading.predict(), truth)
    # New points take the class of their neighbours in the graph.
    new = np.array([[0.5, -0.5], [19.0, 21.0]])
    assert list(spreading.predict(new)) == [0, 1]
    assert spreading.error_rate(new, [0, 0]) == 0.5


def test_label_spreading_marks_rows_no_label_reaches():
    # A chain of 200 points labelled at both ends, with alpha = 0.5: a label's score
    # falls by about half per step, so the middle stays below the solver's precision.
    chain = np.arange(200.0)[:, None]
    labels = np.full(200, -1)
    labels[[0, 199]] = [0, 1]
    with pytest.warns(RuntimeWarning, match="rows are reached by no label"):
        spreading = downstream.LabelSpreading(chain, k=2, alpha=0.5).fit(labels)
    expected = dense_label_spreading(chain, labels, 2, 0.5, 2)
    np.testing.assert_allclose(spreading.scores, expected, atol=1e-8)  # the tolerance
    predicted = spreading.predict()
    assert predicted[0] == 0 and predicted[199] == 1
    assert np.any(predicted == -1)
    reached = predicted >= 0
    assert np.array_equal(predicted[reached], expected.argmax(axis=1)[reached])
    # A new point among unreached rows has no class either, and counts as an error.
    assert spreading.predict(np.array([[100.0]]))[0] == -1
    assert spreading.error_rate(np.array([[100.0]]), [0]) == 1.0


def test_label_spreading_leaves_an_unlabelled_cluster_unclassified():
    generator = np.random.default_rng(2)
    x = np.concatenate([generator.normal(0, 1, (30, 2)), generator.normal(50, 1, (30, 2))])
    labels = np.full(60, -1)
    labels[3] = 0  # the second cluster has no label
    with pytest.warns(RuntimeWarning, match="30 of 60 rows"):
        spreading = downstream.LabelSpreading(x, k=5).fit(labels, num_classes=2)
    assert np.array_equal(spreading.predict(), np.repeat([0, -1], 30))


def test_label_spreading_classifies_new_rows_by_their_neighbours_shares():
    generator = np.random.default_rng(7)
    x = generator.normal(size=(80, 3))
    labels = np.full(80, -1)
    labels[:9] = np.arange(9) % 3
    spreading = downstream.LabelSpreading(x, k=6).fit(labels)
    new = generator.normal(size=(25, 3))
    near = sorted_neighbours(new, x, 6)
    shares = spreading.scores / spreading.scores.sum(axis=1, keepdims=True)
    expected = shares[near].mean(axis=1).argmax(axis=1)
    assert np.array_equal(spreading.predict(new), expected)


def test_label_spreading_checks_its_input():
    x = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="alpha must lie strictly between 0 and 1"):
        downstream.LabelSpreading(x, k=3, alpha=1.0)
    with pytest.raises(ValueError, match="alpha must be a number"):
        downstream.LabelSpreading(x, k=3, alpha="0.5")
    with pytest.raises(ValueError, match="tolerance must be a finite number > 0"):
        downstream.LabelSpreading(x, k=3, tolerance=0.0)
    with pytest.raises(ValueError, match="need more than 10 training rows"):
        downstream.LabelSpreading(x, k=10)
    with pytest.warns(RuntimeWarning) as caught:  # also: rows no label reached yet
        downstream.LabelSpreading(x, k=3, max_steps=1).fit(np.r_[0, 1, np.full(8, -1)])
    assert any("max_steps=1" in str(warning.message) for warning in caught)
    spreading = downstream.LabelSpreading(x, k=3)
    with pytest.raises(RuntimeError, match="Call fit"):
        spreading.predict()
    with pytest.raises(ValueError, match="10 integers"):
        spreading.fit(np.zeros(9, int))
    with pytest.raises(ValueError, match="no labelled row"):
        spreading.fit(np.full(10, -1))
    with pytest.raises(ValueError, match="classes or -1"):
        spreading.fit(np.full(10, -2))
    with pytest.raises(ValueError, match="10 integers"):
        spreading.fit(np.zeros(10))  # floats
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        spreading.fit(np.r_[0, 2, np.full(8, -1)], num_classes=2)
    spreading.fit(np.r_[0, 1, np.full(8, -1)])
    with pytest.raises(ValueError, match="graph was built on 2"):
        spreading.predict(np.zeros((3, 5)))
