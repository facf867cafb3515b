"""The admin PIN: hashed (PBKDF2-SHA256) in the configuration, checked with a lockout.

No Textual here: `mw-tui admin-pin` uses it too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections.abc import Callable

ITERATIONS = 200_000
DEMO_PIN = "0000"  # `mw-tui --demo` only: its Settings open with this PIN
MAX_TRIES = 5  # wrong PINs in a row before the lockout
LOCKOUT_SECONDS = 60.0


def check_pin_text(pin: str) -> str | None:
    """None when `pin` may be used as a PIN, else what is allowed."""
    if not pin.isdigit() or not 4 <= len(pin) <= 12 or not pin.isascii():
        return "a PIN of 4 to 12 digits"
    return None


def hash_pin(pin: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    problem = check_pin_text(pin)
    if problem:
        raise ValueError(f"not a valid PIN: use {problem}")
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2-sha256":
            return False
        mine = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt),
                                   int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(mine.hex(), digest)


class PinGate:
    """Checks PINs against a stored hash (or the demo PIN), locking out after MAX_TRIES."""

    def __init__(self, stored: str, demo: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 on_attempt: Callable[[bool, bool], None] | None = None) -> None:
        """`on_attempt(ok, locked)` hears of every PIN checked (the audit trail)."""
        self.stored = stored
        self.demo = demo
        self.clock = clock
        self.on_attempt = on_attempt
        self.failures = 0
        self.locked_until = 0.0

    @property
    def configured(self) -> bool:
        return self.demo or bool(self.stored)

    def seconds_locked(self) -> float:
        return max(0.0, self.locked_until - self.clock())

    def check(self, pin: str) -> str | None:
        """None when `pin` opens Settings, else the message to show."""
        if not self.configured:
            return ("No admin PIN is set, so Settings are locked. The administrator sets one "
                    "on this machine with: mw-tui admin-pin")
        left = self.seconds_locked()
        if left > 0:
            return f"Too many wrong PINs: try again in {left:.0f} s."
        ok = pin == DEMO_PIN if self.demo else verify_pin(pin, self.stored)
        if ok:
            self.failures = 0
            self._told(True, False)
            return None
        self.failures += 1
        if self.failures >= MAX_TRIES:
            self.failures = 0
            self.locked_until = self.clock() + LOCKOUT_SECONDS
            self._told(False, True)
            return f"Wrong PIN {MAX_TRIES} times: locked for {LOCKOUT_SECONDS:.0f} s."
        self._told(False, False)
        return f"Wrong PIN ({MAX_TRIES - self.failures} more tries before a pause)."

    def _told(self, ok: bool, locked: bool) -> None:
        if self.on_attempt is not None:
            self.on_attempt(ok, locked)
