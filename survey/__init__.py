"""Shared pieces of the drone disaster-survey pipeline: errors, the local metric frame, the CLI."""
