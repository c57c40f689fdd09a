"""The `survey` command line (typer + rich): thin shells over the library packages."""
