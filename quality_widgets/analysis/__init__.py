"""Questions asked of the metric frames and the evaluation: statistics, the hypothesis test,
drift, model test cases, reference comparisons, label errors and annotators, tags, tracks,
and the widgets' selection model. Which rows are in a slice is not asked here but of
:mod:`quality_widgets.slicing`, a layer below (evaluation uses it too)."""
