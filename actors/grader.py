"""Old import path of actors/grading/grader.py, kept only for branches still in flight that import
it (jobs/examples*.py); new code imports actors.grading.grader. Delete once nothing does."""
from actors.grading.grader import GradeResult, GradingError, grade, grade_submission

__all__ = ["GradeResult", "GradingError", "grade", "grade_submission"]
