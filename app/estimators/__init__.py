"""Pure cost estimators: numpy/scipy/torch and the standard library only (no web, no database)."""
