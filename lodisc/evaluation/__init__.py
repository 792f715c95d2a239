"""Evaluation: retrieval metrics, linear probe, embedding loops, mask diagnostics."""
