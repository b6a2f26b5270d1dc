"""Model specifications, presets and the op list of one serving step."""

from ador_opt.models.hf_config import load_model
from ador_opt.models.presets import MODEL_PRESETS
from ador_opt.models.spec import ModelSpec, Precision

__all__ = ["MODEL_PRESETS", "ModelSpec", "Precision", "load_model"]
