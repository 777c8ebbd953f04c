"""How many trials one competition's search runs at once.

Tune's reused trial actors keep their CPUs for the whole search: with 2 trials each, the first of two
searches on 2 cores took both free trial slots and the second ran 0 trials in 245 s (the README's main
command, stop 19). So the slots the pipeline's own actors leave are shared by the competitions that can
search at the same time. That number is taken when a search starts, not once per run: the last
competition of a catalog, searching alone, gets every slot (with the share fixed per run it searched
with one of two on 2 cores).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrialSlots:
    free: int  # whole trial slots the LLM actor and the solver actors leave on the cluster
    solvers: int  # competitions solved at once (the solver pool's size)
    cap: int  # --search max_concurrent: never more per competition

    @classmethod
    def of(cls, cluster_cpus: float, reserved_cpus: float, trial_cpus: float, solvers: int, cap: int) -> TrialSlots:
        return cls(int((cluster_cpus - reserved_cpus) / trial_cpus + 1e-9), max(1, solvers), cap)

    def at_once(self, unfinished: int) -> int:
        """Trials at once for a search that starts while `unfinished` competitions (itself included) have
        no result yet: those that can search beside it are at most the solver pool. At least one (a
        search always gets a slot eventually), at most the cap."""
        sharing = max(1, min(self.solvers, unfinished))
        return max(1, min(self.cap, self.free // sharing))
