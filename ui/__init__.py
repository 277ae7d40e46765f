"""The app's screens: the context every page stands on, shared widgets, one view per page
(floors: docs/ARCHITECTURE.md; the logic they draw lives in engine/)."""
