"""Tracker adapters: each turns one tracker's API into the common model and back."""
