"""A tiny name → object registry that refuses duplicates and names the known keys on a miss."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from ador_opt.errors import InputError

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Immutable after construction; lookups are case-insensitive."""

    def __init__(self, kind: str, items: Mapping[str, T]) -> None:
        self._kind = kind
        self._items: dict[str, T] = {}
        for name, item in items.items():
            key = name.lower()
            if key in self._items:
                raise ValueError(f"duplicate {kind} preset {name!r}")
            self._items[key] = item

    def __getitem__(self, name: str) -> T:
        try:
            return self._items[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise InputError(f"unknown {self._kind} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
