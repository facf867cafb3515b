"""Reusable widgets of the kiosk screens: one module per widget."""
