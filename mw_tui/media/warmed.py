"""The renderer, warmed up: what the fork server of the preview workers imports first
(see `webimages.pool_context`), so each worker forked from it renders at full speed from
its first image."""

from mw_tui.media import render

render.warm()
