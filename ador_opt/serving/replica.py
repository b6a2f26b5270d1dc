"""One serving replica (a TP group): waiting queue, running set, KV blocks, step bookkeeping.

The scheduler policy (`scheduler.py`) decides what each step contains; this module keeps the
state consistent. Decoding requests are kept in aggregate so that a step costs O(1) plus the
requests that start, finish or are preempted in it, not O(batch):

* `rounds` counts the decode rounds this replica has run. A request that joins decoding at
  round R₀ with prompt (KV) length P has KV length P + (R − R₀) before round R, and finishes
  after round R₀ + output − generated. A heap ordered by that round pops finishers.
* The decode context sum of a round is Σ(P − R₀) + n·(R + 1) (every decoder attends over its
  KV including the token it adds).
* A decoder needs a new KV block in round R iff its KV length is a multiple of the block size,
  i.e. iff (P − R₀) ≡ −R (mod block); `residue` counts decoders per class, so the blocks a round
  needs are one lookup.
* Inter-token gaps: all decoders present at the last round emitted then; decoders that joined
  since (their prefill emitted a token) are tracked by join time. A round ending at t therefore
  yields at most a few distinct TBT values, recorded with their token counts.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from ador_opt.serving.kv import KvBlocks
from ador_opt.serving.metrics import RunLog
from ador_opt.serving.request import Request, State
from ador_opt.serving.stepcache import StepTimer


class Replica:
    def __init__(
        self,
        index: int,
        kv_tokens: int,
        block_tokens: int,
        watermark: float,
        timer: StepTimer,
        log: RunLog,
    ) -> None:
        self.index = index
        self.kv = KvBlocks(kv_tokens, block_tokens, watermark)
        self.block = block_tokens
        self.timer = timer
        self.log = log
        self.waiting: deque[Request] = deque()
        self.prefilling: deque[Request] = deque()  # admitted, prompt not complete; FCFS
        self.running: dict[int, Request] = {}  # admitted requests in admission order
        self.rounds = 0
        self.n_dec = 0
        self.dec_base = 0  # Σ (P − R₀) over decoders
        self.residue = [0] * block_tokens
        self.finish_heap: list[tuple[int, int, int, Request]] = []
        self.last_round_s = 0.0
        self.joined: dict[float, int] = {}  # join time → decoders joined since the last round
        self.busy = False
        self.step_chunks: list[tuple[Request, int]] = []
        self.step_decode = False
        self.step_start_s = 0.0
        self.queue_area = 0.0  # ∫ len(waiting) dt, for Little's law
        self.queue_t = 0.0

    # --- queue -------------------------------------------------------------------------------
    def _tick(self, now: float) -> None:
        self.queue_area += len(self.waiting) * (now - self.queue_t)
        self.queue_t = now

    def settle_queue(self, now: float) -> float:
        """Close the queue-length integral at `now`; returns ∫ len(waiting) dt so far."""
        self._tick(now)
        return self.queue_area

    @property
    def outstanding(self) -> int:
        return len(self.waiting) + len(self.running)

    def enqueue(self, req: Request, now: float) -> None:
        self._tick(now)
        req.replica = self.index
        req.state = State.WAITING
        req.enqueued_s = now
        self.waiting.append(req)

    def admit(self, now: float) -> Request:
        """Move the head of the queue into the running set (caller checked KV and batch)."""
        self._tick(now)
        req = self.waiting.popleft()
        req.queued_s += now - req.enqueued_s
        if req.first_scheduled_s < 0:
            req.first_scheduled_s = now
            if self.log.watch is not None:
                self.log.watch.queue(now - req.arrival_s)
        self.kv.take(self.kv.blocks_for(req.prompt_len))
        req.state = State.PREFILLING
        req.prefilled = 0
        self.prefilling.append(req)
        self.running[req.id] = req
        return req

    # --- decode bookkeeping ------------------------------------------------------------------
    def decode_context_sum(self) -> int:
        return self.dec_base + self.n_dec * (self.rounds + 1)

    def blocks_needed_this_round(self) -> int:
        return self.residue[-self.rounds % self.block]

    def reserve_decode_blocks(self, now: float) -> None:
        """Take the KV blocks the next decode round needs, preempting the most recently
        admitted requests (vLLM's victim order) until they fit."""
        need = self.blocks_needed_this_round()
        while need > self.kv.free:
            self.preempt(next(reversed(self.running.values())), now)
            need = self.blocks_needed_this_round()
        self.kv.take(need)

    def _kv_len(self, req: Request) -> int:
        if req.state is State.DECODING:
            return req.prompt_len + self.rounds - req.join_round
        return req.prompt_len

    def _leave_decode(self, req: Request) -> None:
        base = req.prompt_len - req.join_round
        self.n_dec -= 1
        self.dec_base -= base
        self.residue[base % self.block] -= 1
        if req.join_round == self.rounds:  # has not decoded since it joined
            self.joined[req.join_s] -= 1

    def _join(self, req: Request, now: float) -> None:
        """The prompt is complete: the step that finished it emitted one token."""
        req.generated += 1
        if req.first_token_s < 0:
            req.first_token_s = now
            if self.log.watch is not None:
                self.log.watch.ttft(now - req.arrival_s)
        else:  # recomputed after a preemption: the gap since its previous token
            self.log.add_tbt(now - req.last_emit_s, 1)
        if req.generated >= req.output_len:
            self._finish(req, now)
            return
        req.state = State.DECODING
        req.join_round = self.rounds
        req.join_s = now
        base = req.prompt_len - self.rounds
        self.n_dec += 1
        self.dec_base += base
        self.residue[base % self.block] += 1
        req.finish_round = self.rounds + req.output_len - req.generated
        heapq.heappush(self.finish_heap, (req.finish_round, req.id, req.preemptions, req))
        self.joined[now] = self.joined.get(now, 0) + 1

    def _finish(self, req: Request, now: float) -> None:
        self.kv.give(self.kv.blocks_for(self._kv_len(req)))
        req.state = State.DONE
        req.finish_s = now
        del self.running[req.id]
        self.log.finished.append(req)

    def preempt(self, req: Request, now: float) -> None:
        """Free the request's KV and put it back at the head of the queue (recompute)."""
        self.kv.give(self.kv.blocks_for(self._kv_len(req)))
        if req.state is State.DECODING:
            done_rounds = self.rounds - req.join_round
            req.last_emit_s = req.join_s if done_rounds == 0 else self.last_round_s
            self._leave_decode(req)
            req.generated += done_rounds
            req.prompt_len = req.input_len + req.generated
        else:
            self.prefilling.remove(req)
        del self.running[req.id]
        req.prefilled = 0
        req.preemptions += 1
        self.log.preemptions += 1
        self._tick(now)
        req.state = State.WAITING
        req.enqueued_s = now
        self.waiting.appendleft(req)

    # --- steps -------------------------------------------------------------------------------
    def start_step(self, now: float, chunks: list[tuple[Request, int]], decode: bool) -> float:
        """Record the step's contents and return its duration (seconds)."""
        self.step_chunks = chunks
        self.step_decode = decode
        self.step_start_s = now
        n_dec = self.n_dec if decode else 0
        ctx = self.dec_base + n_dec * (self.rounds + 1) if decode else 0
        if chunks:
            shape = [(t, r.prefilled, r.prefilled + t == r.prompt_len) for r, t in chunks]
            st = self.timer.time(shape, n_dec, ctx)
            prefill = sum(t for _, t in chunks)
        else:
            st = self.timer.decode(n_dec, ctx)[0]
            prefill = 0
        self.log.steps.append((self.index, now, st, n_dec, prefill, 1))
        self.busy = True
        return st.seconds

    def run_decode_rounds(self, now: float, horizon: float) -> tuple[float, bool]:
        """Fast path for back-to-back decode-only rounds (the policy chose a decode-only step
        and reserved its blocks). Rounds that end before `horizon` (the next event anywhere)
        and finish no request change nothing another event could observe, so they run inline
        without the event queue — and while the memoised step shape stays the same (the
        decode context sum stays inside one bucket), a whole run of them is applied at once.
        Returns (time reached, ready): ready means the next round's blocks are reserved and it
        must be scheduled as an event; not ready means its blocks could not be reserved
        without preemption (the caller re-runs the policy)."""
        timer = self.timer
        heap = self.finish_heap
        kv = self.kv
        log = self.log
        while True:
            n = self.n_dec
            ctx = self.dec_base + n * (self.rounds + 1)
            st, ctx_max = timer.decode(n, ctx)
            d = st.seconds
            if not d > 0:
                raise RuntimeError(f"perf model returned a step time of {d} s")
            # rounds j = 0..k-1 of this shape: same memo entry, end before the horizon, no
            # request finishes in them (a finishing round goes through the event queue)
            k = min((ctx_max - ctx) // n + 1, heap[0][0] - self.rounds - 1)
            if horizon != math.inf:
                k = min(k, int((horizon - now) / d) + 1)
                while k > 0 and now + k * d >= horizon:
                    k -= 1
            if k <= 0:
                return now, True
            # rounds 1..k-1 must also get their KV blocks without preemption
            k = 1 + self._affordable_rounds(self.rounds + 1, k - 1)
            log.steps.append((self.index, now, st, n, 0, k))
            self._macro_round(now, d, k)
            now += k * d
            need = self.residue[-self.rounds % self.block]
            if need > kv.free:
                return now, False
            kv.free -= need

    def _affordable_rounds(self, first: int, limit: int) -> int:
        """The most rounds (≤ limit) from round `first` on whose new KV blocks fit in the free
        pool; takes those blocks. Each decoder needs one block per `block` rounds."""
        block, n, res = self.block, self.n_dec, self.residue
        free = self.kv.free
        cycles = min(limit // block, free // n)
        m = cycles * block
        free -= cycles * n
        while m < limit:
            need = res[-(first + m) % block]
            if need > free:
                break
            free -= need
            m += 1
        self.kv.free = free
        return m

    def _macro_round(self, start: float, d: float, k: int) -> None:
        """`k` decode rounds of `d` seconds each starting at `start`, finishing nobody."""
        n = self.n_dec
        joined = sum(self.joined.values())
        end = start + d
        if n - joined:
            self.log.add_tbt(end - self.last_round_s, n - joined)
        for t_join, count in self.joined.items():
            if count:
                self.log.add_tbt(end - t_join, count)
        if k > 1:
            self.log.add_tbt(d, n * (k - 1))
        self.joined.clear()
        self.rounds += k
        self.last_round_s = start + k * d

    def end_step(self, now: float) -> None:
        if self.step_decode:
            self._end_round(now)
        for req, tokens in self.step_chunks:
            req.prefilled += tokens
            if req.prefilled == req.prompt_len:
                self.prefilling.remove(req)
                self._join(req, now)
        self.step_chunks = []
        self.busy = False

    def _end_round(self, now: float) -> None:
        self.rounds += 1
        joined = sum(self.joined.values())
        old = self.n_dec - joined
        if old:
            self.log.add_tbt(now - self.last_round_s, old)
        for t_join, count in self.joined.items():
            if count:
                self.log.add_tbt(now - t_join, count)
        self.joined.clear()
        self.last_round_s = now
        heap = self.finish_heap
        while heap and heap[0][0] <= self.rounds:
            _, _, epoch, req = heapq.heappop(heap)
            if req.state is not State.DECODING or req.preemptions != epoch:
                continue  # stale entry of a preempted request
            self._leave_decode(req)
            req.generated = req.output_len
            self._finish_decoded(req, now)

    def _finish_decoded(self, req: Request, now: float) -> None:
        self.kv.give(self.kv.blocks_for(req.prompt_len + self.rounds - req.join_round))
        req.state = State.DONE
        req.finish_s = now
        del self.running[req.id]
        self.log.finished.append(req)
