"""`survey fly`: fly a planned survey's sorties over MAVLink, with live progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from survey.cli.errors import cli_errors
from survey.cli.text import escape

if TYPE_CHECKING:  # the flight code (pymavlink, OpenCV) loads when a command flies
    from missions.fly.flight import FlightEvent, FlightResult

EPILOG = ("Example: survey fly out/joso --connect tcp:127.0.0.1:5760  "
          "(start a simulator first: survey sitl start --home 36.0712,139.9812); "
          "with a telemetry radio: survey fly out/joso --connect /dev/ttyUSB0 --baud 57600\n\n"
          "Exit codes: 0 every sortie flown; 2 bad input (a file or option); 3 link: cannot "
          "connect, no heartbeat, or lost in flight for longer than --link-lost-timeout; "
          "4 refused by the vehicle (not ready to arm, a command or upload refused, it lacks "
          "what the plan needs, not a copter); 5 a sortie cut short (failsafe, mode change, "
          "fence breach: continue with --resume); 130 Ctrl-C (RTL commanded).")

RENAMED = {"url": "connect_url", "sorties": "sortie"}
"""The link's and the flight's parameters this command names otherwise."""


def fly(
    ctx: typer.Context,
    plan_dir: Annotated[Path, typer.Argument(
        help="Folder written by `survey plan` (sortie_NN.plan files).")],
    connect_url: Annotated[str, typer.Option(
        "--connect", help="Vehicle: tcp:HOST:PORT, udp:HOST:PORT (listen), udpout:HOST:PORT "
        "or a serial device such as a SiK/RFD900 radio: /dev/ttyUSB0, /dev/ttyUSB0,BAUD, "
        "serial:/dev/ttyUSB0[:BAUD] or COM3.")],
    baud: Annotated[int | None, typer.Option(
        "--baud", show_default=False, help="Serial rate for a serial --connect device "
        "(default 57600, the SiK radio default; a rate in the device URL also works).")
    ] = None,
    sortie: Annotated[list[int] | None, typer.Option(
        "--sortie", help="Fly only this sortie (repeatable; default: all, in order).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Skip completed sorties and continue a partly flown one from its "
        "last reached item (flight/state.json). A vehicle still in the air (after a lost "
        "link, or a killed `survey fly`) is attached to and followed to landing.")] = False,
    signing_key: Annotated[Path | None, typer.Option(
        "--signing-key", help="MAVLink 2 signing key file (64 hex digits or a passphrase): "
        "sent to the vehicle, unsigned traffic refused.")] = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for the vehicle's heartbeat.")] = 15.0,
    link_lost_timeout: Annotated[float, typer.Option(
        "--link-lost-timeout", help="In flight, seconds to keep waiting for a lost link to "
        "come back (reporting the vehicle's last state) before giving up with exit 3; the "
        "vehicle's own GCS failsafe decides what it does meanwhile.")] = 120.0,
) -> None:
    """Fly a plan over MAVLink: each sortie uploaded, verified, flown in AUTO to landing.

    Photo points and telemetry go to PLAN_DIR/flight/.

    Between sorties it waits for landing, disarm and a charged battery. Ctrl-C commands RTL.
    """
    from missions.fly.flight import FlightConfig, fly_plan, load_sorties
    from missions.fly.link import check_baud, connect, read_signing_key

    app = ctx.obj
    with cli_errors(ctx, RENAMED):
        key = read_signing_key(signing_key) if signing_key is not None else None
        from survey.core.errors import InputError
        if not timeout > 0:
            raise InputError("--timeout", f"must be positive, got {timeout:g}")
        if not link_lost_timeout >= 0:
            raise InputError("--link-lost-timeout", f"must be 0 or more, got "
                             f"{link_lost_timeout:g}")
        if baud is not None:
            check_baud(baud)
        load_sorties(plan_dir, sortie)  # a damaged plan is refused before connecting
        with app.err.status(f"Connecting to {escape(connect_url)}…"):
            # streams are requested by fly_plan once the vehicle is known to be a copter
            link = connect(connect_url, timeout_s=timeout, signing_key=key, rates_hz=None,
                           baud=baud, reconnect=True)
        try:
            with _ProgressView(app.out) as view:
                try:
                    result = fly_plan(link, plan_dir, sorties=sortie, resume=resume,
                                      on_event=view.on_event,
                                      config=FlightConfig(link_lost_timeout_s=link_lost_timeout))
                except KeyboardInterrupt:
                    app.err.print("[bold yellow]interrupted:[/] RTL commanded; state saved, "
                                  "continue with --resume", highlight=False)
                    raise typer.Exit(130) from None
        finally:
            link.close()
    render_result(result, app.out)


fly.__doc__ = (fly.__doc__ or "") + "\n\n" + EPILOG


class _ProgressView:
    """A rich progress bar per sortie (items reached) plus one line per notable event."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(TextColumn("[bold]sortie {task.fields[sortie]}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.description}"),
                                 console=console, transient=False)
        self.tasks: dict[int, TaskID] = {}

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_event(self, e: FlightEvent) -> None:
        from missions.fly.flight import EventKind

        p = self.progress
        if e.kind is EventKind.SORTIE_START:
            self.tasks[e.sortie] = p.add_task(escape(e.text), total=e.total, sortie=e.sortie,
                                              completed=max(e.seq - 1, 0))
            return
        task = self.tasks.get(e.sortie)
        if task is not None and e.kind in (EventKind.REACHED, EventKind.CURRENT):
            p.update(task, completed=e.seq if e.kind is EventKind.REACHED else e.seq - 1,
                     description=f"item {e.seq}/{e.total}")
        elif task is not None and e.kind is EventKind.PHOTO:
            p.update(task, description=escape(e.text))
        elif e.kind is EventKind.FAILSAFE:
            p.console.print(f"[bold red]failsafe:[/] {escape(e.text)}", highlight=False)
        elif e.kind is EventKind.LINK_LOST:
            p.console.print(f"[bold yellow]link lost:[/] {escape(e.text)}", highlight=False)
        elif e.kind in (EventKind.MODE, EventKind.STATUSTEXT, EventKind.UPLOADED,
                        EventKind.ARMED, EventKind.DISARMED, EventKind.SORTIE_DONE,
                        EventKind.WAITING_BATTERY, EventKind.LINK_BACK, EventKind.ATTACHED):
            p.console.print(f"sortie {e.sortie}: {escape(e.text)}", highlight=False)


def render_result(result: FlightResult, console: Console) -> None:
    """One row per sortie flown."""
    t = Table(title="Flight")
    for col in ("sortie", "result", "items reached", "photos / planned", "telemetry log"):
        t.add_column(col)
    for s in result.sorties:
        photos = str(len(s.photos)) + (f" / {s.photos_planned}" if s.photos_planned else "")
        t.add_row(str(s.number), "completed" if s.completed else "interrupted",
                  str(len(s.reached)), photos, escape(str(s.log_path)))
    console.print(t)
