"""Where extractions run: provider model, registry, clients, health, saved servers.
"""
