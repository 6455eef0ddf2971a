"""Learning from few labels: balanced label draws, a linear classifier, label spreading.

:func:`sample_labelled` draws the same number of labelled examples from each class,
reproducibly, and :class:`SoftmaxRegression` is the linear classifier fitted to them on
any features (pixels, PCA codes, autoencoder codes, VAE means), so that the features are
what differs; :func:`choose_l2` picks its penalty by cross-validation on the labelled
examples alone. :class:`LabelSpreading` is the transductive alternative: it also uses the
unlabelled examples' features, letting each label flow to its near neighbours [1].
Written in NumPy in float64 and tested against brute-force references.

[1] D. Zhou, O. Bousquet, T. N. Lal, J. Weston, B. Schölkopf. Learning with local and
    global consistency. NeurIPS 2004.
"""

from __future__ import annotations

import warnings

import numpy as np

from vaebook.checks import (
    as_features,
    check_fraction,
    check_labels,
    check_non_negative,
    check_positive,
    check_positive_int,
)
from vaebook.retrieval import nearest_neighbours

__all__ = ["LabelSpreading", "SoftmaxRegression", "choose_l2", "sample_labelled"]


def sample_labelled(labels: object, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` examples of every class, drawn without replacement.

    The draw is reproducible: the same labels, count and seed give the same indices, and
    each seed gives another draw (chapter 8 averages over several).

    Args:
        labels: Class labels of the pool, shape ``(n,)``, integers from 0.
        per_class: Examples to draw from each class present in ``labels``.
        seed: Seed of the draw.

    Returns:
        The chosen indices into ``labels``, sorted, shape ``(classes * per_class,)``.

    Raises:
        ValueError: If a class has fewer than ``per_class`` examples.
    """
    labels = check_labels(labels, "labels")
    if labels.min() < 0:
        raise ValueError(
            f"labels must be classes 0, 1, ...; got {labels.min()} (draw labelled examples "
            "from the labelled pool only)."
        )
    per_class = check_positive_int(per_class, "per_class")
    generator = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(f"Class {label} has {len(members)} examples; cannot draw {per_class}.")
        chosen.append(generator.choice(members, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class SoftmaxRegression:
    """Multinomial logistic regression with an L2 penalty, fitted to convergence.

    The linear classifier of the few-label experiments. By default, features are
    standardised with the training rows' mean and standard deviation (features that are
    constant on the training rows are left at 0), so every feature starts on one scale,
    however little it varies; with ``standardise=False`` they are used as given. The
    weights ``W`` (features x classes) and biases ``b`` minimise the mean cross-entropy
    plus ``l2 / 2 * |W|^2`` (the biases are not penalised). The objective is convex, and
    with ``l2 > 0`` its minimum fixes the class probabilities uniquely (adding one
    number to every bias changes nothing).
    Nesterov's accelerated gradient with the step ``1 / L`` (``L`` bounds the Hessian:
    Böhning's bound, half of the features' second-moment matrix, plus ``l2``) and
    gradient-based adaptive restarts (O'Donoghue and Candès, 2015) reaches it;
    :meth:`fit` stops when the gradient's largest entry falls below ``tolerance``, and
    warns if ``max_steps`` ran out first (``converged`` says which).

    Args:
        l2: Weight of the penalty, ``>= 0`` (0 only for data that are not separable).
        max_steps: Largest number of gradient steps.
        tolerance: Stop when every entry of the gradient is smaller than this.
        standardise: Whether to rescale each feature to mean 0 and standard deviation 1
            on the training rows (the L2 penalty then weighs every feature alike).

    Example:
        >>> classifier = SoftmaxRegression(l2=1e-2).fit(train_codes, train_labels)
        >>> error = classifier.error_rate(test_codes, test_labels)  # doctest: +SKIP
    """

    def __init__(
        self,
        l2: float = 1e-2,
        max_steps: int = 20_000,
        tolerance: float = 1e-6,
        standardise: bool = True,
    ) -> None:
        if not isinstance(standardise, bool):
            raise TypeError(f"standardise must be True or False; got {standardise!r}.")
        self.standardise = standardise
        self.l2 = check_non_negative(l2, "l2")
        self.max_steps = check_positive_int(max_steps, "max_steps")
        self.tolerance = check_non_negative(tolerance, "tolerance")
        self.mean: np.ndarray | None = None  # (features,), of the training rows
        self.scale: np.ndarray | None = None  # (features,)
        self.weights: np.ndarray | None = None  # (features, classes)
        self.bias: np.ndarray | None = None  # (classes,)
        self.steps = 0
        self.converged = False

    def _standardise(self, features: object, name: str) -> np.ndarray:
        x = as_features(features, name)
        if self.weights is not None and x.shape[1] != self.weights.shape[0]:
            raise ValueError(
                f"{name} has {x.shape[1]} features per row; the classifier was fitted "
                f"to {self.weights.shape[0]}."
            )
        return (x - self.mean) / self.scale

    def objective_and_gradient(
        self, x: np.ndarray, targets: np.ndarray, weights: np.ndarray, bias: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """The penalised mean cross-entropy and its gradients, for standardised ``x``.

        Args:
            x: Standardised features, shape ``(n, features)``.
            targets: One-hot labels, shape ``(n, classes)``.
            weights: Shape ``(features, classes)``.
            bias: Shape ``(classes,)``.

        Returns:
            ``(objective, gradient of weights, gradient of bias)``.
        """
        logits = x @ weights + bias  # (n, classes)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        objective = -np.mean(np.sum(targets * log_probs, axis=1)) + 0.5 * self.l2 * np.sum(
            weights**2
        )
        residual = (np.exp(log_probs) - targets) / len(x)  # (n, classes)
        return float(objective), x.T @ residual + self.l2 * weights, residual.sum(axis=0)

    def fit(
        self, features: object, labels: object, num_classes: int | None = None
    ) -> SoftmaxRegression:
        """Fits the classifier; returns it.

        Args:
            features: Training features, shape ``(n, ...)``.
            labels: Their labels, shape ``(n,)``.
            num_classes: Number of classes (default: the largest label plus one).

        Returns:
            ``self``.
        """
        x = as_features(features, "features")
        labels = check_labels(labels, "labels", length=len(x))
        classes = int(labels.max()) + 1 if num_classes is None else num_classes
        classes = check_positive_int(classes, "num_classes")
        labels = check_labels(labels, "labels", num_classes=classes)
        # Features equal on every training row are centred on that value and not
        # scaled (their computed spread may be rounding noise, not 0).
        constant = np.all(x == x[0], axis=0)
        if self.standardise:
            self.mean = np.where(constant, x[0], x.mean(axis=0))
            self.scale = np.where(constant, 1.0, x.std(axis=0))
        else:
            self.mean, self.scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
        x = (x - self.mean) / self.scale
        targets = np.eye(classes)[labels]  # (n, classes)
        # The cross-entropy's Hessian is at most 1/2 (X'X / n) in each class block (for
        # the weights and, through a column of ones, the biases); adding l2 bounds it.
        design = np.hstack([x, np.ones((len(x), 1))])
        lipschitz = 0.5 * np.linalg.eigvalsh(design.T @ design / len(x))[-1] + self.l2
        step = 1.0 / lipschitz
        weights = np.zeros((x.shape[1], classes))
        bias = np.zeros(classes)
        previous_w, previous_b = weights, bias
        self.weights, self.converged = None, False
        since_restart = 0
        for step_number in range(1, self.max_steps + 1):
            self.steps = step_number
            since_restart += 1
            # Nesterov's look-ahead point, then a gradient step from it.
            momentum = (since_restart - 1) / (since_restart + 2)
            look_w = weights + momentum * (weights - previous_w)
            look_b = bias + momentum * (bias - previous_b)
            _, grad_w, grad_b = self.objective_and_gradient(x, targets, look_w, look_b)
            previous_w, previous_b = weights, bias
            weights = look_w - step * grad_w
            bias = look_b - step * grad_b
            # Restart the momentum when the step goes against the gradient.
            if np.sum(grad_w * (weights - previous_w)) + np.sum(grad_b * (bias - previous_b)) > 0:
                since_restart = 0
            if step_number % 50 == 0:
                _, grad_w, grad_b = self.objective_and_gradient(x, targets, weights, bias)
                if max(np.abs(grad_w).max(), np.abs(grad_b).max()) < self.tolerance:
                    self.converged = True
                    break
        if not self.converged:
            warnings.warn(
                f"SoftmaxRegression stopped after max_steps={self.max_steps} steps before "
                f"the gradient fell below tolerance={self.tolerance:g}; raise max_steps or "
                "l2.",
                RuntimeWarning,
                stacklevel=2,
            )
        self.weights, self.bias = weights, bias
        return self

    def predict_proba(self, features: object) -> np.ndarray:
        """Class probabilities, shape ``(n, classes)``."""
        if self.weights is None:
            raise RuntimeError("Call fit before predicting.")
        x = self._standardise(features, "features")
        return _softmax(x @ self.weights + self.bias)

    def predict(self, features: object) -> np.ndarray:
        """The most probable class of each row, shape ``(n,)``."""
        return np.argmax(self.predict_proba(features), axis=1)

    def error_rate(self, features: object, labels: object) -> float:
        """The fraction of rows whose predicted class is not their label."""
        predictions = self.predict(features)
        labels = check_labels(labels, "labels", length=len(predictions))
        return float(np.mean(predictions != labels))


class LabelSpreading:
    """Labels spread from a few examples over a graph of near neighbours [1].

    A transductive classifier: it sees the features of *all* the training rows, labelled
    or not, and lets each label flow to the rows near it. The graph joins every row to
    its ``k`` nearest rows (:func:`~vaebook.retrieval.nearest_neighbours`), both ways,
    with weight 1: ``W`` is symmetric with ``W[i, j] = 1`` when either row is among the
    other's ``k`` nearest. With ``D`` its diagonal of degrees, ``S = D^-1/2 W D^-1/2``,
    and ``Y`` the one-hot labels (a row of zeros for an unlabelled row), the spread
    scores are the fixed point of ``F = alpha S F + (1 - alpha) Y``, that is

        F = (1 - alpha) (I - alpha S)^-1 Y,

    where ``alpha`` in (0, 1) trades the given labels against agreement with the
    neighbours. ``I - alpha S`` is symmetric positive definite, so :meth:`fit` solves
    for ``F`` by conjugate gradients, all classes together, until every residual is
    below ``tolerance`` times its right-hand side. A row is given the class with the
    largest score; a new row (:meth:`predict` with features) the class with the largest
    mean of its ``k`` nearest training rows' scores, each row's scores normalised to
    sum to 1. A row that no label reaches (a part of the graph without a labelled row)
    (or that lies so far from every label, with a small ``alpha``, that its score stays
    below the solver's precision) has no class: :meth:`fit` warns with their number and
    :meth:`predict` gives them
    -1, which :meth:`error_rate` counts as an error; so does a new row whose
    neighbours are all such rows.

    Building the graph costs one :func:`~vaebook.retrieval.nearest_neighbours` pass over
    the training rows, once (on two CPU cores, about a minute for 60,000 rows of 50
    features and four for MNIST's pixels); :meth:`fit` can then be called for any number
    of draws of the labelled rows.

    Args:
        features: Features of every training row, shape ``(n, ...)``.
        k: Neighbours per row in the graph, and for new rows.
        alpha: The weight of the neighbours, in (0, 1); 0.99 as in [1].
        tolerance: Relative residual at which the solver stops.
        max_steps: Largest number of conjugate-gradient steps.

    Example:
        >>> spreading = LabelSpreading(train_codes, k=10)  # doctest: +SKIP
        >>> labels = np.full(len(train_codes), -1)  # -1: unlabelled
        >>> labels[chosen] = train_labels[chosen]
        >>> error = spreading.fit(labels).error_rate(test_codes, test_labels)
    """

    def __init__(
        self,
        features: object,
        k: int = 10,
        alpha: float = 0.99,
        tolerance: float = 1e-8,
        max_steps: int = 10_000,
    ) -> None:
        self.features = as_features(features, "features")
        self.k = check_positive_int(k, "k")
        n = len(self.features)
        if self.k >= n:
            raise ValueError(f"k = {self.k} neighbours need more than {n} training rows.")
        alpha = check_fraction(alpha, "alpha")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1; got {alpha}.")
        self.alpha = alpha
        self.tolerance = check_positive(tolerance, "tolerance")
        self.max_steps = check_positive_int(max_steps, "max_steps")
        near = nearest_neighbours(self.features, self.features, self.k, exclude_self=True)
        rows = np.repeat(np.arange(n), self.k)
        # Each edge once in each direction: codes i * n + j, duplicates removed.
        codes = np.unique(np.concatenate([rows * n + near.ravel(), near.ravel() * n + rows]))
        self.edges = (codes // n, codes % n)  # (E,), (E,): W[i, j] = 1
        degrees = np.bincount(self.edges[0], minlength=n).astype(np.float64)  # (n,)
        self.edge_weights = 1.0 / np.sqrt(degrees[self.edges[0]] * degrees[self.edges[1]])
        self.scores: np.ndarray | None = None  # (n, classes), F
        self.reached: np.ndarray | None = None  # (n,), whether any label reached a row
        self.steps = 0

    def _spread_once(self, values: np.ndarray) -> np.ndarray:
        """``S @ values`` for ``values`` of shape ``(n, classes)``."""
        i, j = self.edges
        return np.stack(
            [
                np.bincount(i, weights=self.edge_weights * values[j, c], minlength=len(values))
                for c in range(values.shape[1])
            ],
            axis=1,
        )

    def fit(self, labels: object, num_classes: int | None = None) -> LabelSpreading:
        """Spreads the given labels; returns ``self``.

        Args:
            labels: One per training row, shape ``(n,)``: the class, or -1 for an
                unlabelled row.
            num_classes: Number of classes (default: the largest label plus one).

        Returns:
            ``self``, with ``scores`` (shape ``(n, classes)``) set.
        """
        labels = np.asarray(labels)
        if labels.shape != (len(self.features),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"labels must be {len(self.features)} integers (one per training row, -1 "
                f"for unlabelled); got shape {labels.shape}, dtype {labels.dtype}."
            )
        if labels.min() < -1:
            raise ValueError(f"labels must be classes or -1; got {labels.min()}.")
        given = labels >= 0
        if not given.any():
            raise ValueError("labels has no labelled row (every entry is -1).")
        classes = int(labels.max()) + 1 if num_classes is None else num_classes
        classes = check_positive_int(classes, "num_classes")
        check_labels(labels[given], "labels", num_classes=classes)
        targets = np.zeros((len(labels), classes))  # (n, classes): Y
        targets[np.flatnonzero(given), labels[given]] = 1.0
        right = (1.0 - self.alpha) * targets

        def apply(values: np.ndarray) -> np.ndarray:  # (I - alpha S) @ values
            return values - self.alpha * self._spread_once(values)

        # Conjugate gradients, every class column at once (each with its own step).
        scores = np.zeros_like(right)
        residual = right.copy()
        direction = residual.copy()
        squared = np.sum(residual**2, axis=0)  # (classes,)
        limit = (self.tolerance * np.linalg.norm(right, axis=0)) ** 2
        self.steps = 0
        while np.any(squared > limit) and self.steps < self.max_steps:
            self.steps += 1
            image = apply(direction)
            step = squared / np.maximum(np.sum(direction * image, axis=0), 1e-300)
            scores += step * direction
            residual -= step * image
            new_squared = np.sum(residual**2, axis=0)
            direction = residual + (new_squared / np.maximum(squared, 1e-300)) * direction
            squared = new_squared
        if np.any(squared > limit):
            warnings.warn(
                f"LabelSpreading stopped after max_steps={self.max_steps} steps before "
                f"the residual fell below tolerance={self.tolerance:g}.",
                RuntimeWarning,
                stacklevel=2,
            )
        self.scores = scores
        self.reached = scores.max(axis=1) > 0
        if not self.reached.all():
            warnings.warn(
                f"{np.sum(~self.reached)} of {len(labels)} rows are reached by no label: "
                "their part of the graph has no labelled row, or they lie so many steps "
                "from every label that the solver stopped first (lower tolerance or "
                "raise alpha); predict gives them -1.",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    def predict(self, features: object | None = None) -> np.ndarray:
        """The class of each row, shape ``(m,)``.

        Args:
            features: New rows, shape ``(m, ...)``; by default the training rows
                themselves (then ``m = n``).
        """
        if self.scores is None:
            raise RuntimeError("Call fit before predicting.")
        if features is None:
            return np.where(self.reached, np.argmax(self.scores, axis=1), -1)
        x = as_features(features, "features")
        if x.shape[1] != self.features.shape[1]:
            raise ValueError(
                f"features has {x.shape[1]} features per row; the graph was built on "
                f"{self.features.shape[1]}."
            )
        totals = self.scores.sum(axis=1, keepdims=True)
        shares = self.scores / np.where(self.reached[:, None], totals, 1.0)  # rows sum to 1
        near = nearest_neighbours(x, self.features, self.k)  # (m, k)
        votes = shares[near].mean(axis=1)  # (m, classes)
        return np.where(self.reached[near].any(axis=1), np.argmax(votes, axis=1), -1)

    def error_rate(self, features: object, labels: object) -> float:
        """The fraction of new rows whose predicted class is not their label."""
        predictions = self.predict(features)
        labels = check_labels(labels, "labels", length=len(predictions))
        return float(np.mean(predictions != labels))


def choose_l2(
    features: object,
    labels: object,
    grid: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0),
    folds: int = 5,
    seed: int = 0,
    tolerance: float = 1e-6,
    standardise: bool = True,
) -> float:
    """The penalty of :class:`SoftmaxRegression` with the fewest cross-validated errors.

    With few labels there is no separate validation set to spare: the labelled examples
    are split into ``folds`` parts, balanced by class, and each penalty is fitted on all
    parts but one and scored on the one left out, in turn. Ties go to the larger
    penalty (the simpler classifier). Nothing outside ``features`` is looked at.

    Args:
        features: The labelled examples' features, shape ``(n, ...)``.
        labels: Their labels, shape ``(n,)``; every class needs at least ``folds``.
        grid: The penalties to try.
        folds: Number of parts.
        seed: Seed of the split.
        tolerance: The fits' stopping tolerance (:class:`SoftmaxRegression`); a looser
            one saves time on many features.
        standardise: Passed to :class:`SoftmaxRegression`.

    Returns:
        The chosen penalty.
    """
    x = as_features(features, "features")
    labels = check_labels(labels, "labels", length=len(x))
    folds = check_positive_int(folds, "folds")
    if folds < 2:
        raise ValueError(f"folds must be at least 2; got {folds}.")
    counts = np.bincount(labels)
    if counts[counts > 0].min() < folds:
        raise ValueError(
            f"Each class needs at least folds={folds} labelled examples; the smallest has "
            f"{counts[counts > 0].min()}."
        )
    if not grid:
        raise ValueError("grid is empty.")
    generator = np.random.default_rng(seed)
    # Deal each class's examples round-robin into the folds, in a seeded order.
    fold_of = np.empty(len(x), dtype=np.int64)
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        fold_of[members] = np.arange(len(members)) % folds
    classes = int(labels.max()) + 1
    errors = []
    for l2 in grid:
        wrong = 0
        for fold in range(folds):
            held = fold_of == fold
            model = SoftmaxRegression(l2=l2, tolerance=tolerance, standardise=standardise).fit(
                x[~held], labels[~held], num_classes=classes
            )
            wrong += int(np.sum(model.predict(x[held]) != labels[held]))
        errors.append(wrong)
    best = min(errors)
    return float(max(l2 for l2, error in zip(grid, errors) if error == best))
