"""Axisboard: decide how to scale LLM systems."""

__version__ = "0.1.0"
