"""Test stand-in for the Neuron compiler package (neuronx-cc): only the import path that
nki_lowering.py uses (neuronxcc.nki.kernels.attention). Not the compiler; tests put this
directory first on sys.path."""
