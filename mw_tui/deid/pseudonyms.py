"""Everything a job's seed decides: new UIDs, patient pseudonyms and date offsets.

Each value is a keyed hash (HMAC-SHA256) of the original under the job's seed, so the same
original gives the same result in every instance of the job, and again when a resumed job
runs with the same seed; without the seed nothing leads back to the original.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_LENGTH = 8
MIN_SHIFT_DAYS = 365
MAX_SHIFT_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """What stands for a patient on anonymous media (name and ID; never the original)."""

    name: str  # e.g. ANON-7K2MQ4XD (a family name alone: shown the same way everywhere)
    patient_id: str  # e.g. 7K2MQ4XD
    shift_days: int  # how far this patient's dates move back under the Modified Dates Option

    @property
    def label(self) -> str:
        """The pseudonym as the label shows it (README and viewers show the same)."""
        return self.name


class Keys:
    """The job's seed turned into UIDs, pseudonyms and offsets. Not thread-safe."""

    def __init__(self, seed: str | bytes) -> None:
        self._key = seed.encode() if isinstance(seed, str) else bytes(seed)
        if not self._key:
            raise ValueError("a de-identification seed must not be empty")
        self._uids: dict[str, str] = {}
        self._patients: dict[str, Pseudonym] = {}
        self._codes: dict[str, str] = {}  # code -> patient key, so two patients never share one

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """The new UID for `original`: 2.25 and a UUID made from the keyed hash."""
        new = self._uids.get(original)
        if new is None:
            u = uuid.UUID(bytes=self._digest("uid", original)[:16], version=4)
            new = self._uids[original] = f"2.25.{u.int}"
        return new

    def patient(self, key: str) -> Pseudonym:
        """The pseudonym of the patient `key` (see `patient_key`)."""
        found = self._patients.get(key)
        if found is not None:
            return found
        digest = self._digest("patient", key)
        number = int.from_bytes(digest, "big")
        code = ""
        for attempt in range(4):
            n, code = number >> (attempt * 5), ""
            for _ in range(CODE_LENGTH + attempt):
                n, r = divmod(n, len(_ALPHABET))
                code += _ALPHABET[r]
            if self._codes.setdefault(code, key) == key:
                break
        days = MIN_SHIFT_DAYS + int.from_bytes(self._digest("dates", key)[:4], "big") % (
            MAX_SHIFT_DAYS - MIN_SHIFT_DAYS + 1)
        found = self._patients[key] = Pseudonym(f"ANON-{code}", code, days)
        return found


def patient_key(patient_id: str, patient_name: str) -> str:
    """Who a patient is within a job: their ID, or their name when the ID is empty."""
    pid = patient_id.strip()
    return f"id:{pid}" if pid else f"name:{patient_name.strip().upper()}"
