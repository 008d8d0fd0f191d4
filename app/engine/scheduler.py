"""Measurement slots: at most `[parallel] measure_slots` candidates are measured at once.

A worker whose candidate is ready `acquire`s a slot (first come, first served) and holds
it through rebase, measure, decide, checks, holdout and keep, then `release`s it. Each
slot has its own bench (slot 0: the session's; slot k: one over its own measurement tree)
so that commands of different slots never share a tree. `cpus_per_slot` pins a slot's
commands to its own cores, `gpus_per_slot` gives it its own CUDA devices.

The scheduler also keeps when each slot was taken and given back: `busy_s` for the
utilisation figure, and the records' `measured_from`/`measured_to`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.engine.interrupts import Cancelled


@dataclass
class Slot:
    index: int
    bench: Any
    """The `Bench` whose commands this slot runs (one per slot: one measurement tree)."""
    cpus: tuple[int, ...] = ()
    """The cores its commands are pinned to (empty: not pinned)."""
    gpus: tuple[int, ...] = ()
    """The CUDA devices its commands see (empty: left as it is)."""
    holder: int | None = None
    """The worker holding it."""
    since: float = 0.0
    busy_s: float = 0.0
    intervals: list[tuple[int, float, float]] = field(default_factory=list)
    """(worker, taken, given back) wall times, in order."""


def slot_cpus(slots: int, per_slot: int) -> list[tuple[int, ...]]:
    """Distinct cores for each slot, from those this process may use (empty: no pinning)."""
    if per_slot <= 0 or not hasattr(os, "sched_getaffinity"):
        return [() for _ in range(slots)]
    cores = sorted(os.sched_getaffinity(0))
    return [tuple(cores[i * per_slot:(i + 1) * per_slot]) for i in range(slots)]


def slot_gpus(slots: int, per_slot: int) -> list[tuple[int, ...]]:
    if per_slot <= 0:
        return [() for _ in range(slots)]
    return [tuple(range(i * per_slot, (i + 1) * per_slot)) for i in range(slots)]


def pin(bench: Any, cpus: tuple[int, ...], gpus: tuple[int, ...]) -> None:
    """A bench's measured commands run on `cpus` and see the CUDA devices `gpus`."""
    bench.cpus = cpus
    if gpus:
        bench.env = {**bench.env, "CUDA_VISIBLE_DEVICES": ",".join(map(str, gpus))}


class Scheduler:
    def __init__(self, benches: list[Any], *, cpus_per_slot: int = 0,
                 gpus_per_slot: int = 0) -> None:
        cpus = slot_cpus(len(benches), cpus_per_slot)
        gpus = slot_gpus(len(benches), gpus_per_slot)
        self.slots = [Slot(i, bench, cpus[i], gpus[i]) for i, bench in enumerate(benches)]
        for slot in self.slots:
            pin(slot.bench, slot.cpus, slot.gpus)
        self._lock = threading.Condition()
        self._queue: list[int] = []
        """Workers waiting for a slot, first come first served."""
        self.started = time.time()

    def acquire(self, worker: int, cancel: threading.Event,
                on_queued: Callable[[], None] | None = None) -> Slot:
        """Block until a slot is free for `worker` (raises Cancelled when `cancel` is set
        while waiting)."""
        with self._lock:
            self._queue.append(worker)
            try:
                while True:
                    if cancel.is_set():
                        raise Cancelled()
                    free = [s for s in self.slots if s.holder is None]
                    if free and self._queue[0] == worker:
                        slot = free[0]
                        slot.holder, slot.since = worker, time.time()
                        return slot
                    if on_queued is not None:
                        callback, on_queued = on_queued, None
                        self._lock.release()
                        try:
                            callback()
                        finally:
                            self._lock.acquire()
                        continue
                    self._lock.wait(0.2)
            finally:
                self._queue.remove(worker)
                self._lock.notify_all()

    def release(self, slot: Slot) -> float:
        """Give the slot back; returns the wall time it was given back."""
        with self._lock:
            now = time.time()
            if slot.holder is not None:
                slot.busy_s += now - slot.since
                slot.intervals.append((slot.holder, slot.since, now))
            slot.holder = None
            self._lock.notify_all()
            return now

    def held_by(self, worker: int) -> Slot | None:
        with self._lock:
            return next((s for s in self.slots if s.holder == worker), None)

    def utilisation(self) -> float:
        """The share of wall time since the start the slots were busy (0..1)."""
        with self._lock:
            now = time.time()
            busy = sum(s.busy_s + (now - s.since if s.holder is not None else 0.0)
                       for s in self.slots)
            return busy / max(1e-9, (now - self.started) * len(self.slots))
