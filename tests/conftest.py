"""Test-wide settings."""

from hypothesis import settings

# A failing property test prints the @reproduce_failure blob that replays it exactly.
settings.register_profile("project", print_blob=True)
settings.load_profile("project")
