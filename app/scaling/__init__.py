"""The scaling lab's numerics (pure: numpy and scipy, no web or database imports).

- :mod:`app.scaling.planner`: compute-optimal allocation under the published Chinchilla fits,
  iso-FLOP and iso-loss curves, where a trained model sits against the optimum;
- :mod:`app.scaling.inference_aware`: Sardana et al.'s lifetime (training + inference) optimum
  in FLOPs and in dollars;
- :mod:`app.scaling.fitting`: the Chinchilla form fitted to your own runs (Huber on log loss,
  multi-start L-BFGS, bootstrap intervals);
- :mod:`app.scaling.conditional`: Bian et al.'s architecture-conditional law, its published
  coefficients and its Levenberg–Marquardt fit with the progressive check;
- :mod:`app.scaling.search`: Algorithm 1, vectorised over every candidate design, with
  throughput from the estimators' step model.
"""

from app.scaling.errors import ScalingError

__all__ = ["ScalingError"]
