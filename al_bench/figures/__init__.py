"""figures piece (see docs/ARCHITECTURE.md)."""
