"""Old import path of actors/grading/metrics.py, kept only for branches still in flight that import
it (jobs/examples*.py); new code imports actors.grading.metrics. Delete once nothing does."""
from actors.grading.metrics import METRICS, MetricError, get_metric, score_predictions

__all__ = ["METRICS", "MetricError", "get_metric", "score_predictions"]
