"""Talking to OpenAI-compatible chat servers: modes, requests, strict schemas, stream events,
extraction.
"""
