"""The incremental parse: text chunks -> JSON changes -> typed snapshots. Imports no llm, no
providers, no database.
"""
