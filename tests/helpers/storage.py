"""Storage helpers shared by the local and the S3 storage tests."""
from __future__ import annotations

import threading

import storage


def race_put_if_absent(uri: str, workers: int) -> list[int]:
    """`workers` threads put_if_absent the same object at the same moment; the ones that won."""
    barrier = threading.Barrier(workers)
    won: list[int] = []

    def claim(i: int) -> None:
        barrier.wait()
        if storage.put_if_absent(uri, f"worker-{i}".encode()):
            won.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won
