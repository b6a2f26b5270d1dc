"""Reports: Pareto tables, HTML/PNG plots and the optuna-dashboard bridge (reads storage only).

Optuna is imported here and in `ador_opt/explore/` only. Public entry points:
`build_report(store, out_dir, study_name)` (`ador-opt report`) and
`ador_opt.report.dashboard` (`ador-opt dashboard`).
"""

from ador_opt.report.build import ReportResult, analyse, build_report, markdown_summary
from ador_opt.report.load import StudyData, TrialRecord, load_study_data, open_storage

__all__ = [
    "ReportResult",
    "StudyData",
    "TrialRecord",
    "analyse",
    "build_report",
    "load_study_data",
    "markdown_summary",
    "open_storage",
]
