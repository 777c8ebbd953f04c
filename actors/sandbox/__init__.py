"""The sandbox: bubblewrap around one script run (sandbox.py), its command line and seccomp filter,
per-run limits (cgroup.py, disk.py, loop.py), I/O pumping (io.py) and safe reading back (readback.py)."""
