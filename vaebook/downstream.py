"""What a learned code is for: the tools of chapters 7 and 8, under one name.

They live in three modules, one for each use of a code:

* :mod:`vaebook.ood`: spotting the unfamiliar (:func:`~vaebook.ood.roc_curve`,
  :func:`~vaebook.ood.auroc`, :func:`~vaebook.ood.compressed_bits`);
* :mod:`vaebook.few_labels`: learning from few labels
  (:func:`~vaebook.few_labels.sample_labelled`,
  :class:`~vaebook.few_labels.SoftmaxRegression`, :func:`~vaebook.few_labels.choose_l2`,
  :class:`~vaebook.few_labels.LabelSpreading`);
* :mod:`vaebook.retrieval`: near neighbours
  (:func:`~vaebook.retrieval.nearest_neighbours`,
  :func:`~vaebook.retrieval.precision_at_k`).

This module gives the same objects their earlier names (``downstream.auroc`` is
``ood.auroc``), so that code written against it keeps working.
"""

from __future__ import annotations

from vaebook.few_labels import LabelSpreading, SoftmaxRegression, choose_l2, sample_labelled
from vaebook.ood import auroc, compressed_bits, roc_curve
from vaebook.retrieval import nearest_neighbours, precision_at_k

__all__ = [
    "LabelSpreading",
    "SoftmaxRegression",
    "auroc",
    "choose_l2",
    "compressed_bits",
    "nearest_neighbours",
    "precision_at_k",
    "roc_curve",
    "sample_labelled",
]
