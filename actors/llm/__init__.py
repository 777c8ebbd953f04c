"""The LLM clients: one interface (base.py), its backends (embedded.py, openai_client.py), wrappers
(cache.py, recording.py), the embedded model registry (models.py) and the shared Ray actor (actor.py)."""
