"""Pure cost estimators: numpy/scipy/torch and the standard library only (no web, no database)."""

# The estimators' version, cited by every stored recommendation next to the matrix and rule-set
# versions. Bump it when a formula, constant or default in app/estimators changes results.
ESTIMATOR_VERSION = "2026.11.4"
