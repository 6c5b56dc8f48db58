"""Test stand-in for nkilib.core (see nkilib/__init__.py)."""
