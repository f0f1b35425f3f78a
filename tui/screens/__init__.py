"""The app's screens: the live dashboard, the walkthrough, help."""
