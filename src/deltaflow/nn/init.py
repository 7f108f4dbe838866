"""Weight initialisers (placeholder)."""
