"""Decisions and their workflow primitives (content hashes, the decision in force, voiding,
notifications), below the features that are decided on: assessments and portfolios read their
statuses here, governance (above them) records the decisions and keeps the queue."""
