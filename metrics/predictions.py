"""Built-in prediction metrics (the object metrics in objects.py apply to predictions too)."""
from quality_widgets import metric


@metric(level="prediction", pixels=False)
def confidence(crop, row):
    """The model's score, in [0, 1].

    The prediction's score as given in the results file."""
    return row["score"]
