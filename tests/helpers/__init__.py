"""Helpers shared by test modules, imported the normal way (`from tests.helpers.fakes import ScriptedLLM`).
Fixtures live in tests/conftest.py; plain functions and stand-ins live here."""
