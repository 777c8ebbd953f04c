"""The LLM stages of a competition: instructor, refiner (critic + resolver), the staged coder with its
plan grammar (plans.py, estimators.py) and few-shot material (examples.py), and the vanilla baseline."""
