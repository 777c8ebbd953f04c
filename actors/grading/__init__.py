"""Grading, pure: metrics (metrics.py), a submission frame against an answers frame (grader.py), a score
on a leaderboard (leaderboard.py). Frames in, records out; reading files by URI is the job layer's (jobs/grade.py)."""
