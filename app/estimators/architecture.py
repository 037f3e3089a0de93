"""Decoder-only transformer architecture and its exact parameter counts.

Counting (``reference/formulas.md`` §9, checked against the published safetensors totals of
Llama-3.1-8B and Llama-3.1-70B)::

    total  = vocab·d·(1 if tied else 2)
           + n_layers·(N_attn + n_experts·3·d·f + router + 2·d) + d
    N_attn = 2·d·n_h·d_h + 2·d·n_kv·d_h       (q and o; k and v)
    router = d·n_experts                      (MoE only)

SwiGLU MLPs (gate, up, down: 3·d·f per expert), RMSNorm (d weights each), no biases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.estimators.errors import FieldError
from app.estimators.quality import QualityFigure


class ArchitectureError(FieldError):
    """An architecture whose fields are missing or inconsistent; ``field`` names the culprit."""


ARCH_FIELDS = (
    "n_layers",
    "d_model",
    "d_ff",
    "n_heads",
    "n_kv_heads",
    "d_head",
    "vocab",
    "tied_embeddings",
    "n_experts",
    "experts_per_token",
)
INT_ARCH_FIELDS = tuple(f for f in ARCH_FIELDS if f != "tied_embeddings")


@dataclass(frozen=True, slots=True)
class Architecture:
    n_layers: int
    d_model: int
    d_ff: int
    n_heads: int
    n_kv_heads: int
    d_head: int
    vocab: int
    tied_embeddings: bool = False
    n_experts: int = 1
    experts_per_token: int = 1
    name: str = field(default="custom", compare=False)
    # Published quality figures (catalog models only); not part of the architecture's identity.
    quality: tuple[QualityFigure, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in INT_ARCH_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArchitectureError(f"{name} must be a positive integer", field=name)
        if self.n_heads % self.n_kv_heads:
            raise ArchitectureError(
                "n_heads must be a multiple of n_kv_heads (grouped-query attention)",
                field="n_kv_heads",
            )
        if self.experts_per_token > self.n_experts:
            raise ArchitectureError(
                "experts_per_token cannot exceed n_experts", field="experts_per_token"
            )

    # --- parameter counts -------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def attn_params_per_layer(self) -> int:
        d, dh = self.d_model, self.d_head
        return 2 * d * self.n_heads * dh + 2 * d * self.n_kv_heads * dh

    @property
    def mlp_params_per_expert(self) -> int:
        return 3 * self.d_model * self.d_ff

    @property
    def router_params_per_layer(self) -> int:
        return self.d_model * self.n_experts if self.is_moe else 0

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.d_model * (1 if self.tied_embeddings else 2)

    @property
    def non_embedding_params(self) -> int:
        per_layer = (
            self.attn_params_per_layer
            + self.n_experts * self.mlp_params_per_expert
            + self.router_params_per_layer
            + 2 * self.d_model
        )
        return self.n_layers * per_layer + self.d_model

    @property
    def total_params(self) -> int:
        return self.embedding_params + self.non_embedding_params

    @property
    def active_params(self) -> int:
        """Parameters touched per token: routed experts only (Mixtral: 12,879,925,248)."""
        inactive = (
            self.n_layers * (self.n_experts - self.experts_per_token) * self.mlp_params_per_expert
        )
        return self.total_params - inactive

    @property
    def active_non_embedding_params(self) -> int:
        inactive = (
            self.n_layers * (self.n_experts - self.experts_per_token) * self.mlp_params_per_expert
        )
        return self.non_embedding_params - inactive

    @property
    def gqa_group(self) -> int:
        return self.n_heads // self.n_kv_heads

    @property
    def mlp_attention_ratio(self) -> float:
        """r = N_mlp / N_attn per layer, counting the routed experts (Bian et al. 2025)."""
        return self.experts_per_token * self.mlp_params_per_expert / self.attn_params_per_layer

    def kv_bytes_per_token(self, bytes_per_element: float = 2.0) -> float:
        """K and V for every layer: 2 · n_layers · n_kv · d_head · bytes."""
        return 2 * self.n_layers * self.n_kv_heads * self.d_head * bytes_per_element

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "d_ff": self.d_ff,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_kv_heads,
            "d_head": self.d_head,
            "vocab": self.vocab,
            "tied_embeddings": self.tied_embeddings,
            "n_experts": self.n_experts,
            "experts_per_token": self.experts_per_token,
        }
