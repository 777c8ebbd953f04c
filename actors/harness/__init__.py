"""The pre-written harness: script fragments (fragments/, text, concatenated into solution.py) and the
modules that assemble them with generated stages (integrate.py) and read what a run says (diagnose.py)."""
