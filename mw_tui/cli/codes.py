"""The exit statuses of the commands (a module of its own: the first thing `mw-tui` runs,
before it imports the station, needs them too)."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
