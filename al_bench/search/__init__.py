"""search piece (see docs/ARCHITECTURE.md)."""
