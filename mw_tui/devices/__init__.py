"""Drives, sticks and the writers that put volumes on them (no Textual here)."""
