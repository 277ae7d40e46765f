"""Batches (#20): many documents, one schema, on a durable queue (DBOS Transact)."""
