"""The foundation: what every package shares (errors, the local metric frame, atomic files, the
camera model, the damage classes). It imports nothing of ours."""
