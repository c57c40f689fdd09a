"""`survey review apply`: HQ's checks of the AI's grades, back into the survey."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from survey.cli.errors import cli_errors
from survey.cli.text import escape

review_app = typer.Typer(name="review", help="HQ's reviews of the AI's damage grades.",
                         no_args_is_help=True, add_completion=False)

APPLY_EPILOG = ("Example: survey review apply out/demo/survey ~/Downloads/review.geojson  "
                "(the file survey map --review's panel exports)")


@review_app.command("apply", no_args_is_help=True)
def apply(
    ctx: typer.Context,
    survey_dir: Annotated[Path, typer.Argument(help="Survey folder written by survey analyze.")],
    reviews: Annotated[Path, typer.Argument(help="review.geojson exported from the map.")],
) -> None:
    """Record reviews in the survey: the reviewer's grade beside the model's, in every export.

    A later review of the same object wins; applying a file twice changes nothing; a review
    of an object the survey does not have (or no longer has where it was reviewed) is listed.
    """
    from mapping.reviews import apply_reviews, read_reviews
    from mapping.store import open_store

    app = ctx.obj
    with cli_errors(ctx):
        rows = read_reviews(reviews)
        with open_store(survey_dir) as store:
            summary = apply_reviews(store, rows)
    for problem in summary.unknown:
        app.err.print(f"[yellow]not applied:[/] {escape(problem)}", soft_wrap=True,
                      highlight=False)
    app.out.print(f"{len(rows)} reviews in {escape(reviews.name)}: {summary.added} added, "
                  f"{summary.updated} updated, {summary.unchanged} unchanged, "
                  f"{summary.older} older than the survey's, {len(summary.unknown)} not applied",
                  highlight=False)


apply.__doc__ = (apply.__doc__ or "") + "\n\n" + APPLY_EPILOG
