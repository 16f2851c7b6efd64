"""CDA R2 (placeholder)."""
