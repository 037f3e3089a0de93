"""Pure rules code: no web framework, no database."""
