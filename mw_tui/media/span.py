"""Spreading a job over several media when it does not fit on one.

Each medium gets a complete File-set. Studies are kept whole whenever they fit on a medium
of their own: the next study that does not fit in what is left starts a new medium (media
are filled in the order of the job). A study larger than a medium is split by series; a
series larger than a medium, as a last resort, by instances (each medium then holds a valid
File-set with part of that series, and says so). An instance is never split: one larger
than a medium is an error.

Sizes are estimates that err on the large side: every file rounded up to the medium's
allocation unit, plus room for its directory records, DICOMDIR record and web page line.
The builder then measures each volume (a disc image's exact size) and spreads again with a
larger allowance should an estimate have been short.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PER_INSTANCE = 1024  # ISO 9660 + Joliet directory records, DICOMDIR record, web page line
PER_LEVEL = 8192  # a patient / study / series: directories in both trees, records, a page
FIXED = 256 * 1024  # system area, descriptors, path tables, README, INDEX.HTM, style


class DoesNotFit(Exception):
    """An instance (or the fixed content) is larger than the medium."""


@dataclass(frozen=True, slots=True)
class Slice:
    """Instances [start, stop) of one series of one study, placed on one medium."""

    study: int
    series: int
    start: int
    stop: int


def blocks(size: int, block: int) -> int:
    return -(-size // block) * block


def instance_cost(size: int, block: int) -> int:
    return blocks(size, block) + PER_INSTANCE


def span(studies: Sequence[Sequence[Sequence[int]]], capacity: int | None, block: int,
         fixed: int = FIXED) -> list[list[Slice]]:
    """Volumes for `studies` (study -> series -> instance sizes), each a list of slices."""
    if capacity is None:
        return [[Slice(st, se, 0, len(sizes)) for st, series in enumerate(studies)
                 for se, sizes in enumerate(series)]]
    room = capacity - fixed
    if room <= PER_LEVEL * 3:
        raise DoesNotFit(f"a medium of {capacity} bytes cannot even hold the DICOMDIR, "
                         f"README and web pages ({fixed} bytes)")
    packer = _Packer(room, block)
    for st, series in enumerate(studies):
        packer.add_study(st, series)
    return [v for v in packer.volumes if v]


class _Packer:
    """Next-fit over the job's studies; see the module doc for the rules."""

    def __init__(self, room: int, block: int) -> None:
        self.room = room
        self.block = block
        self.volumes: list[list[Slice]] = [[]]
        self.free = room
        self.studies_here: set[int] = set()

    def new_volume(self) -> None:
        self.volumes.append([])
        self.free = self.room
        self.studies_here.clear()

    def study_overhead(self, st: int) -> int:
        return 0 if st in self.studies_here else 2 * PER_LEVEL  # its patient and study

    def place(self, st: int, se: int, start: int, stop: int, cost: int) -> None:
        self.free -= cost + self.study_overhead(st)
        self.volumes[-1].append(Slice(st, se, start, stop))
        self.studies_here.add(st)

    def add_study(self, st: int, series: Sequence[Sequence[int]]) -> None:
        costs = [PER_LEVEL + sum(instance_cost(s, self.block) for s in sizes)
                 for sizes in series]
        whole = 2 * PER_LEVEL + sum(costs)
        if whole > self.free and whole <= self.room and self.volumes[-1]:
            self.new_volume()
        if whole <= self.free:
            for se, sizes in enumerate(series):
                self.place(st, se, 0, len(sizes), costs[se])
            return
        for se, sizes in enumerate(series):  # the study is larger than a medium
            if costs[se] + self.study_overhead(st) > self.free and (
                    costs[se] + 2 * PER_LEVEL <= self.room):
                self.new_volume()
            if costs[se] + self.study_overhead(st) <= self.free:
                self.place(st, se, 0, len(sizes), costs[se])
            else:
                self.split_series(st, se, sizes)

    def split_series(self, st: int, se: int, sizes: Sequence[int]) -> None:
        """A series larger than what is left: a run of instances per medium."""
        start = 0
        while start < len(sizes):
            used = PER_LEVEL + self.study_overhead(st)
            stop = start
            while stop < len(sizes):
                cost = instance_cost(sizes[stop], self.block)
                if used + cost > self.free:
                    break
                used += cost
                stop += 1
            if stop == start:
                if not self.volumes[-1]:
                    raise DoesNotFit(
                        f"instance {start + 1} of series {se + 1} of study {st + 1} "
                        f"({sizes[start]} bytes) is larger than the medium")
                self.new_volume()
                continue
            self.place(st, se, start, stop, used - self.study_overhead(st))
            start = stop
            if start < len(sizes):
                self.new_volume()
