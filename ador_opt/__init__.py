"""ador_opt: design-space exploration for LLM-serving accelerators (the ADOR method)."""

__version__ = "0.1.0"
