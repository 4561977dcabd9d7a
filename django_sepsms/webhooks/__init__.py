"""The signed webhook receiver."""
