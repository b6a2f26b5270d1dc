"""KV-cache block manager (PagedAttention-style): fixed-size blocks of `block_tokens` tokens.

Blocks are interchangeable, so the manager only counts them. The pool is sized from the DRAM
left after the weights (`ador_opt.perf.memory.max_kv_tokens`). A request holds
⌈tokens / block_tokens⌉ blocks. Admission keeps a watermark of free blocks so that running
requests can grow without immediate preemption (vLLM's default watermark is 1 % of the blocks).
"""

from __future__ import annotations

from ador_opt.errors import InputError

# vLLM's default KV block size is 16 tokens (CacheConfig.block_size).
DEFAULT_BLOCK_TOKENS = 16
# vLLM v0 BlockSpaceManager default watermark: keep 1 % of blocks free at admission.
DEFAULT_WATERMARK = 0.01


class KvBlocks:
    __slots__ = ("block_tokens", "free", "total", "watermark")

    def __init__(
        self,
        capacity_tokens: int,
        block_tokens: int = DEFAULT_BLOCK_TOKENS,
        watermark: float = DEFAULT_WATERMARK,
    ) -> None:
        if block_tokens <= 0:
            raise InputError(f"KV block size must be positive, got {block_tokens}")
        if not 0 <= watermark < 1:
            raise InputError(f"KV watermark must be in [0, 1), got {watermark}")
        self.block_tokens = block_tokens
        self.total = capacity_tokens // block_tokens
        self.free = self.total
        self.watermark = int(watermark * self.total)

    def blocks_for(self, tokens: int) -> int:
        return -(-tokens // self.block_tokens)

    def can_admit(self, tokens: int) -> bool:
        return self.free - self.blocks_for(tokens) >= self.watermark

    def take(self, blocks: int) -> None:
        self.free -= blocks
        assert self.free >= 0, "KV blocks over-allocated"

    def give(self, blocks: int) -> None:
        self.free += blocks
        assert self.free <= self.total, "KV blocks over-freed"

    @property
    def used(self) -> int:
        return self.total - self.free
