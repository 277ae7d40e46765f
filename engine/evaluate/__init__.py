"""Evaluation (#21): answers scored against gold, field by field (`score`)."""
