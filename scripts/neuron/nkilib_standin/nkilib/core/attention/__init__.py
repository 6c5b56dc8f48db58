"""Test stand-in for nkilib.core.attention (see nkilib/__init__.py)."""
