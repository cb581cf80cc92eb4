"""loop piece (see docs/ARCHITECTURE.md)."""
