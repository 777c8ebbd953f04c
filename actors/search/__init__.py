"""The search: configuration spaces (space.py, proposal.py) and Caruana ensembles (ensemble.py). The old
candidate-code search (candidates.py, tune.py) moved here as it was; a new Optuna/Ray Tune search replaces it."""
