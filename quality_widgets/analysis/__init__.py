"""Questions asked of the metric frames: slicing (which rows fall in a range), statistics,
the hypothesis test, drift, model test cases, tags, and the widgets' selection model."""
