"""Chinchilla parametric loss L(N, D) = E + A/N^α + B/D^β and its compute-optimal allocation.

Closed form under C = 6ND (Hoffmann et al. 2022, arXiv 2203.15556, eq. 4; reference/formulas.md
§1.1)::

    G = (α·A / (β·B))^(1/(α+β)),  N_opt = G·(C/6)^(β/(α+β)),  D_opt = G^-1·(C/6)^(α/(α+β))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ChinchillaFit:
    name: str
    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str

    def loss(self, params: float, tokens: float) -> float:
        return float(self.E + self.A / params**self.alpha + self.B / tokens**self.beta)

    @property
    def G(self) -> float:
        return float((self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta)))

    def optimum_for_loss(self, loss: float) -> tuple[float, float]:
        """(N, D) of the compute-optimal model reaching ``loss`` (reference §1.1, the forms in
        nikhilsardana/beyond-chinchilla utils.py): N = (A(α/β+1)/(L−E))^(1/α),
        D = (B(β/α+1)/(L−E))^(1/β). ``loss`` must exceed E."""
        gap = loss - self.E
        n = (self.A * (self.alpha / self.beta + 1) / gap) ** (1 / self.alpha)
        d = (self.B * (self.beta / self.alpha + 1) / gap) ** (1 / self.beta)
        return float(n), float(d)

    def optimum(self, compute_flops: float) -> tuple[float, float]:
        """(N_opt, D_opt) for a budget of ``compute_flops`` = 6·N·D."""
        a = self.beta / (self.alpha + self.beta)
        b = self.alpha / (self.alpha + self.beta)
        c6 = compute_flops / 6
        return self.G * c6**a, c6**b / self.G


# reference/formulas.md §1.2 (each fit's source next to it).
FITS: dict[str, ChinchillaFit] = {
    f.name: f
    for f in (
        ChinchillaFit(
            "hoffmann_printed",
            1.69,
            406.4,
            410.7,
            0.34,
            0.28,
            "Hoffmann et al. 2022 (arXiv 2203.15556) as printed, rounded",
        ),
        ChinchillaFit(
            "hoffmann_tex",
            math.exp(0.5267228),
            math.exp(6.0073404),
            math.exp(6.0179186),
            0.33917,
            0.28491,
            "Hoffmann et al. 2022, values in the paper's TeX source "
            "(epoch-research/analyzing-chinchilla, true_params)",
        ),
        ChinchillaFit(
            "epoch_2024",
            1.8172,
            482.01,
            2085.43,
            0.3478,
            0.3658,
            "Besiroglu et al. 2024, 'Chinchilla Scaling: A replication attempt' (arXiv 2404.10102)",
        ),
        ChinchillaFit(
            "sardana_code",
            1.69,
            406.4,
            410.7,
            0.336,
            0.283,
            "nikhilsardana/beyond-chinchilla utils.py defaults (Sardana et al., arXiv 2401.00448)",
        ),
    )
}
FIT_NAMES: tuple[str, ...] = tuple(FITS)
DEFAULT_FIT: Final = "epoch_2024"


def fit(name: str) -> ChinchillaFit:
    try:
        return FITS[name]
    except KeyError:
        raise ValueError(f"unknown fit '{name}'; allowed: {', '.join(FIT_NAMES)}") from None
