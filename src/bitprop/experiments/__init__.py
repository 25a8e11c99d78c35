"""Measurement harnesses on top of the public API (reporting only; no arithmetic of their own)."""
