"""Command-line entry points for humans: the demo walk-through and the admin CLI."""
