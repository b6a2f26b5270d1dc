"""The request entity: its lengths and the timestamps the metrics are computed from.

A request is the one mutable object of a run (it belongs to that run only). Times are seconds
of simulated time. `prompt_len` is what must be prefilled: the input, or after a preemption the
input plus the tokens generated so far (recompute, as vLLM does).
"""

from __future__ import annotations

from enum import IntEnum


class State(IntEnum):
    WAITING = 0
    PREFILLING = 1
    DECODING = 2
    DONE = 3


class Request:
    __slots__ = (
        "arrival_s",
        "enqueued_s",
        "finish_round",
        "finish_s",
        "first_scheduled_s",
        "first_token_s",
        "generated",
        "id",
        "input_len",
        "join_round",
        "join_s",
        "last_emit_s",
        "output_len",
        "preemptions",
        "prefilled",
        "prompt_len",
        "queued_s",
        "replica",
        "state",
    )

    def __init__(self, rid: int, arrival_s: float, input_len: int, output_len: int) -> None:
        self.id = rid
        self.arrival_s = arrival_s
        self.input_len = input_len
        self.output_len = output_len
        self.prompt_len = input_len
        self.prefilled = 0
        self.generated = 0
        self.state = State.WAITING
        self.replica = -1
        self.enqueued_s = arrival_s
        self.queued_s = 0.0  # total time spent in a waiting queue (all waits)
        self.first_scheduled_s = -1.0  # start of the first step that processed it
        self.first_token_s = -1.0
        self.finish_s = -1.0
        self.last_emit_s = -1.0  # emission time of the latest token (set when needed)
        self.join_round = 0  # decode-round counter of its replica when it joined decoding
        self.join_s = 0.0
        self.finish_round = 0
        self.preemptions = 0

    @property
    def total_len(self) -> int:
        return self.input_len + self.output_len

    def __repr__(self) -> str:
        return (
            f"Request(id={self.id}, in={self.input_len}, out={self.output_len}, "
            f"state={self.state.name}, generated={self.generated})"
        )
