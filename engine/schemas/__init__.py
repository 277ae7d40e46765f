"""The schema library and the field tree views draw.
"""
