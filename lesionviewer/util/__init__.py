"""Small helpers shared across the library (atomic file writing, user folders)."""
