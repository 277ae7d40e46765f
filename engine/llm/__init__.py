"""Talking to OpenAI-compatible chat servers: `modes`, `request` (building the request and its
prompts), `strict_schema`, `events` (chunks -> events), `failures` (errors -> plain messages,
redacted by `engine.redact`), `budget` (does the text fit), `extract`.
"""
