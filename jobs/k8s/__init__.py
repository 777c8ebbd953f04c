"""Offline tooling for the k8s/ manifests: schemas (validate.py), product cross-checks (lint.py), both
at once (check.py: `python -m jobs.k8s.check`)."""
