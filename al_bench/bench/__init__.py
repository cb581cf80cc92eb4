"""bench piece (see docs/ARCHITECTURE.md)."""
