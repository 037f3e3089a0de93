"""Map a Hugging Face ``config.json`` (Llama, Mistral, Mixtral, Qwen2/Qwen3, Qwen MoE) to an
:class:`Architecture`, naming every field that cannot be mapped."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.estimators.architecture import Architecture, ArchitectureError

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe")


class HfConfigError(ValueError):
    def __init__(self, message: str, *, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


def _int(cfg: Mapping[str, Any], key: str, missing: list[str]) -> int:
    v = cfg.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        missing.append(key)
        return 1
    return v


def architecture_from_hf_config(cfg: Mapping[str, Any], *, name: str = "custom") -> Architecture:
    model_type = str(cfg.get("model_type", ""))
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise HfConfigError(
            f"model_type '{model_type}' is not supported; supported: "
            + ", ".join(SUPPORTED_MODEL_TYPES),
            fields=["model_type"],
        )
    missing: list[str] = []
    n_layers = _int(cfg, "num_hidden_layers", missing)
    d_model = _int(cfg, "hidden_size", missing)
    n_heads = _int(cfg, "num_attention_heads", missing)
    n_kv = cfg.get("num_key_value_heads") or n_heads
    vocab = _int(cfg, "vocab_size", missing)
    d_head = cfg.get("head_dim") or (d_model // n_heads if n_heads else 0)
    n_experts, k = 1, 1
    if model_type == "mixtral":
        n_experts = _int(cfg, "num_local_experts", missing)
        k = _int(cfg, "num_experts_per_tok", missing)
        d_ff = _int(cfg, "intermediate_size", missing)
    elif model_type in ("qwen2_moe", "qwen3_moe"):
        n_experts = _int(cfg, "num_experts", missing)
        k = _int(cfg, "num_experts_per_tok", missing)
        d_ff = _int(cfg, "moe_intermediate_size", missing)
    else:
        d_ff = _int(cfg, "intermediate_size", missing)
    if missing:
        raise HfConfigError(
            "config.json lacks usable values for: " + ", ".join(missing), fields=missing
        )
    try:
        return Architecture(
            n_layers=n_layers,
            d_model=d_model,
            d_ff=d_ff,
            n_heads=n_heads,
            n_kv_heads=int(n_kv),
            d_head=int(d_head),
            vocab=vocab,
            tied_embeddings=bool(cfg.get("tie_word_embeddings")),
            n_experts=n_experts,
            experts_per_token=k,
            name=name,
        )
    except ArchitectureError as exc:
        raise HfConfigError(str(exc), fields=[exc.field or "config"]) from None


def unmapped_notes(cfg: Mapping[str, Any]) -> list[str]:
    """Fields that are read but only approximated (shown to the user as caveats)."""
    notes = []
    if cfg.get("sliding_window") and cfg.get("model_type") == "mistral":
        notes.append("sliding_window: KV counted for the full context (an upper bound)")
    if cfg.get("shared_expert_intermediate_size"):
        notes.append("shared_expert_intermediate_size: shared experts not modelled")
    if cfg.get("rope_scaling"):
        notes.append("rope_scaling: no effect on cost")
    return notes
