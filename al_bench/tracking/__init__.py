"""tracking piece (see docs/ARCHITECTURE.md)."""
