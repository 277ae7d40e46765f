"""Test helpers shipped with the engine: a scripted OpenAI-compatible server.
"""
