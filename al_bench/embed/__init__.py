"""embed piece (see docs/ARCHITECTURE.md)."""
