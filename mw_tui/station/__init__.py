"""The application layer: the one door into the station.

`Station` (`facade.py`) starts and stops the services (`core.py`) and carries out every use
case a technician, a script or a remote request asks for: search (`search.py`, this
station's store as a source in `local.py`), plan a medium (`plan.py`, `targets.py`), jobs
(`jobs.py`), archives and reports (`archives.py`), media outside jobs and eject
(`media.py`), outside media imported (`importing.py`; a disc or stick with DICOM content
noticed as it is inserted: `inserted.py`), the store's care (`store_admin.py`,
`housekeeping.py`), settings and the admin PIN (`settings.py`, `pin.py`). The screens,
the command line and DICOM services import only this package (values they show come
re-exported from `models.py`); import-linter's contracts in pyproject.toml hold that.
"""

from mw_tui.station.core import StationStatus, data_home, demo_config, demo_root
from mw_tui.station.facade import Station

__all__ = ["Station", "StationStatus", "data_home", "demo_config", "demo_root"]
