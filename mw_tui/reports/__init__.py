"""Reports on the media: Mitra report brokers (text -> Basic Text SR) and the archives'
SR and Encapsulated PDF objects, fetched into the study in the store."""

from mw_tui.reports.fetch import count_reports, fetch_reports, stored_reports
from mw_tui.reports.models import (
    FoundReport,
    ReportKind,
    ReportsResult,
    ReportStatus,
    SourceError,
)

__all__ = ["FoundReport", "ReportKind", "ReportStatus", "ReportsResult", "SourceError",
           "count_reports", "fetch_reports", "stored_reports"]
