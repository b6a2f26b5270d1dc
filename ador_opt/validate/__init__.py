"""Validation: run measured cases through the product's performance code, report the error."""

from ador_opt.validate.cases import COLUMNS, Case, Scenario, load_cases
from ador_opt.validate.runner import (
    PRODUCT,
    CaseResult,
    Predictor,
    predict_case,
    run_cases,
    summarise,
    validate_cases,
)

__all__ = [
    "COLUMNS",
    "PRODUCT",
    "Case",
    "CaseResult",
    "Predictor",
    "Scenario",
    "load_cases",
    "predict_case",
    "run_cases",
    "summarise",
    "validate_cases",
]
