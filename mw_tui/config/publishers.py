"""[[publishers]]: disc publishers (robots with burners and a disc printer) fed through a
shared job folder."""

from __future__ import annotations

from dataclasses import dataclass

from mw_tui.config.checks import check_choice, check_name, check_not_empty, in_range, item

PUBLISHER_KINDS = ("ptburn",)


def check_client_id(value: str) -> str | None:
    if 1 <= len(value) <= 32 and value.isascii() and value.isprintable() and "=" not in value:
        return None
    return "1 to 32 printable ASCII characters without '='"


def check_robot_folder(value: str) -> str | None:
    if value.isascii() and value.isprintable():
        return None
    return "a path in printable ASCII (how the robot's PC names the folder, e.g. " \
           "\"C:\\\\PTBurnJobs\" or \"\\\\\\\\station\\\\ptburn\"), or \"\""


@dataclass(frozen=True)
class Publisher:
    name: str = item("A short name for this publisher (targets name it as publisher:NAME).",
                     check_name)
    folder: str = item("The robot's shared job folder as this station sees it (a local "
                       "folder, or a network share mounted here).", check_not_empty)
    kind: str = item("What drives the robot: \"ptburn\" (Primera PTBurn / PTPublisher, "
                     "through its job request folder).", check_choice(*PUBLISHER_KINDS),
                     default="ptburn")
    robot_folder: str = item(
        "The same folder as the robot's PC sees it, e.g. \"C:\\\\PTBurnJobs\" or "
        "\"\\\\\\\\station\\\\ptburn\" (paths in the job requests are written this way); "
        "empty = the same path as folder.", check_robot_folder, default="")
    status_folder: str = item("Where the robot writes its status files; empty = the Status "
                              "folder inside folder.", default="")
    client_id: str = item("Who submits the jobs, as the robot shows it (ClientID).",
                          check_client_id, default="MW-TUI")
    verify: bool = item("The robot reads every disc back after writing it (VerifyDisc).",
                        default=True)
    close_disc: bool = item("Close the disc after writing, so nothing can be added "
                            "(CloseDisc).", default=True)
    reject_if_not_blank: bool = item("The robot rejects discs that are not blank instead of "
                                     "adding a session (RejectIfNotBlank).", default=True)
    burn_speed: int = item("Burn speed (1-100 x); 0 = the recorder's maximum (BurnSpeed).",
                           in_range(0, 100, "a whole number"), default=0)
    print_label: bool = item("Print the label on the disc (PrintLabel).", default=True)
    accept_timeout: float = item(
        "Seconds the robot may take to pick up a job request; then the request is taken back "
        "and the job fails (is the robot's software running?).",
        in_range(5, 86400, "seconds"), default=300.0)
    timeout_minutes: float = item(
        "Minutes a job may stay with the robot once it picked it up (queue, writing, "
        "printing) before the station gives up waiting; 0 = no limit.",
        in_range(0, 10080, "minutes"), default=480.0)
    poll_seconds: float = item("Seconds between two looks at the job folder.",
                               in_range(0.01, 60, "seconds"), default=2.0)
