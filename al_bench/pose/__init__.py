"""pose piece (see docs/ARCHITECTURE.md)."""
