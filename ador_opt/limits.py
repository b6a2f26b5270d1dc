"""Upper bounds on user-given sizes, checked where input enters (CLI, spec, case and trace files).

Without them a typo such as `batch = 1000000000` is not an error but an evaluation that runs for
hours (one prefill chunk object per request, one decode context per generated token) or fails
deep inside numpy with an internal error. The bounds are far above any real serving setting, so
they refuse only what cannot be meant.
"""

from __future__ import annotations

from ador_opt.errors import InputError

# Assumption: 65,536 concurrent requests per TP group is > 100× the largest batch of the paper's
# experiments (150-256) and of vLLM's default max_num_seqs (256).
MAX_BATCH = 65_536
# Assumption: 10 M tokens is the largest published context window (Llama 4 Scout, 2025); a
# request's prompt plus output never exceeds it.
MAX_TOKENS_PER_REQUEST = 10_000_000
# Assumption: tensor parallelism over more than 4,096 devices has no meaning for one model.
MAX_TP = 4_096


def check_bounded(name: str, value: int, limit: int) -> None:
    """Raise `InputError` naming `name` when the positive integer `value` exceeds `limit`."""
    if value > limit:
        raise InputError(f"{name} must be at most {limit:,}, got {value:,}")


def check_request_tokens(input_len: int, output_len: int, where: str = "") -> None:
    """Prompt and output lengths of one request within `MAX_TOKENS_PER_REQUEST`."""
    prefix = f"{where}: " if where else ""
    for name, value in (("input_len", input_len), ("output_len", output_len)):
        check_bounded(f"{prefix}{name}", value, MAX_TOKENS_PER_REQUEST)
    if input_len + output_len > MAX_TOKENS_PER_REQUEST:
        raise InputError(
            f"{prefix}input_len + output_len must be at most {MAX_TOKENS_PER_REQUEST:,}, got "
            f"{input_len + output_len:,}"
        )
