"""Serving engine names (the profiles' efficiency factors are fitted in ``calibration``)."""

from __future__ import annotations

ENGINE_NAMES: tuple[str, ...] = (
    "ideal",
    "vllm",
    "tensorrt-llm",
    "sglang",
    "llama.cpp",
    "hf-transformers",
)
