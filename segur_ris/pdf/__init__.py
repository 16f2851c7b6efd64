"""PDF/A (placeholder)."""
