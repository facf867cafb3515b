"""`python -m mw_tui` is the same as the `mw-tui` command."""

if __name__ == "__main__":  # receiver workers re-import this module when they start
    from mw_tui.cli import main

    raise SystemExit(main())
