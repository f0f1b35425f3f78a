"""The Textual terminal app (guided walkthrough and live cluster dashboard)."""
