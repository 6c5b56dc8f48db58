"""Test stand-in for neuronxcc.nki (see neuronxcc/__init__.py)."""
