"""Script-generated corpus of broken CT input for the loader tests (nothing stored, all written at test time)."""
