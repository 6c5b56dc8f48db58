"""Test stand-in for the NKI Library that neuronx-cc bundles (`import nkilib`): only the import
path nki_lowering.py uses (nkilib.core.attention.attention_cte). Tests put this directory first
on sys.path."""
