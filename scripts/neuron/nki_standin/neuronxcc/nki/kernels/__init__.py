"""Test stand-in for neuronxcc.nki.kernels (see neuronxcc/__init__.py)."""
