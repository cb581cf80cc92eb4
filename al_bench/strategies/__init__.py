"""strategies piece (see docs/ARCHITECTURE.md)."""
