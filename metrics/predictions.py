"""Built-in prediction metrics (the object metrics in objects.py apply to predictions too)."""
from quality_widgets import metric


@metric(level="prediction", pixels=False, description="The model's score, in [0, 1].")
def confidence(crop, row):
    """The prediction's score as given in the results file."""
    return row["score"]
