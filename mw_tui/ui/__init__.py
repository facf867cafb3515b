"""The kiosk's screens (Textual). Nothing outside mw_tui/ui and mw_tui/app.py imports this."""
