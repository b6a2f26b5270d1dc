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


# Assumption: one local worker process per core; 256 is above the core count of any single
# machine we target (2-socket servers: 128-192 cores) — more processes only thrash.
MAX_N_JOBS = 256
# Assumption: 10 M requests is > 100× the longest published serving benchmark run (ShareGPT
# replays of ~10 k-100 k requests); the simulator keeps per-request records, ~1 kB each.
MAX_NUM_REQUESTS = 10_000_000
# Assumption: 4,096 replicas behind one router is > 10× the largest fleet simulated in the
# serving papers we follow (Sarathi-Serve, Splitwise: tens to a few hundred); each replica
# is simulated step by step, so 10⁹ would never finish.
MAX_REPLICAS = 4_096
# Assumption: the largest text input we read (a trace of MAX_NUM_REQUESTS rows, a design batch,
# a HF config.json of a few kB, a study spec) fits in 256 MiB; a bigger file is a mistake.
MAX_INPUT_BYTES = 256 * 1024 * 1024
# Assumption: specs, model configs and hardware files are a few kB; 16 MiB is far above.
MAX_SMALL_INPUT_BYTES = 16 * 1024 * 1024
# Python's default limit for int() of a decimal string (PEP 651 / CVE-2020-10735 guard).
MAX_INT_DIGITS = 4_300


def read_input_bytes(path: object, what: str, max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a *regular* file of at most `max_bytes`, or an `InputError` naming it.

    Opens without following into special files: `/dev/zero`, a FIFO, a socket, a directory or a
    symlink to any of them is refused at once (O_NONBLOCK, so a FIFO without a writer cannot
    hang the open), and the size is checked before and while reading (a file that grows is cut
    at the cap), so no input can exhaust memory."""
    import os
    import stat

    name = str(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(f"{what} not found: {name}") from None
    except OSError as exc:
        raise InputError(f"{what} {name}: cannot open ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{what} {name}: not a regular file")
        if st.st_size > max_bytes:
            raise InputError(
                f"{what} {name}: {st.st_size:,} bytes, more than the {max_bytes:,} allowed"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise InputError(f"{what} {name}: more than the {max_bytes:,} bytes allowed")
            chunks.append(chunk)
    except OSError as exc:
        raise InputError(f"{what} {name}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_input_text(
    path: object, what: str, max_bytes: int = MAX_INPUT_BYTES, encoding: str = "utf-8"
) -> str:
    """`read_input_bytes` decoded; invalid text is an `InputError` (exit 2)."""
    data = read_input_bytes(path, what, max_bytes)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} {path}: not {encoding} text (byte {exc.start})") from None


def check_option_bounded(option: str, value: float | int, limit: int) -> None:
    """A resource-sized CLI option (`--n-jobs`, `--num-requests`, …) within `limit`."""
    if value > limit:
        raise InputError(f"{option} must be at most {limit:,}, got {value:,}")
