"""kafkabp.arenas: glibc's malloc arenas capped once kafkabp's workloads are imported (issue 25's soak)."""

from __future__ import annotations

import sys

import pytest

from kafkabp.arenas import limit_malloc_arenas

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")


def test_the_cap_is_two_arenas_unless_the_environment_says_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("KAFKABP_MALLOC_ARENAS", raising=False)
    assert limit_malloc_arenas() == 2
    monkeypatch.setenv("KAFKABP_MALLOC_ARENAS", "4")
    assert limit_malloc_arenas() == 4
    monkeypatch.setenv("KAFKABP_MALLOC_ARENAS", "0")
    assert limit_malloc_arenas() is None
    monkeypatch.setenv("KAFKABP_MALLOC_ARENAS", "two")
    with pytest.raises(ValueError, match="KAFKABP_MALLOC_ARENAS must be a whole number"):
        limit_malloc_arenas()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")  # the environment's own setting wins
    assert limit_malloc_arenas() is None



def test_free_pages_go_back_to_the_system_after_a_big_buffer_is_freed() -> None:
    import ctypes

    from kafkabp.arenas import release_free_memory
    from kafkabp.progress import rss_bytes

    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(100_000) for _ in range(2_000)]  # 200 MB below the mmap threshold: heap pages
    for b in blocks:
        ctypes.memset(b, 1, 100_000)
    keep = blocks[-1]  # the heap's top stays in use, so only malloc_trim, not free, can return the pages below it
    for b in blocks[:-1]:
        libc.free(b)
    held = rss_bytes()
    assert release_free_memory() is True
    assert held - rss_bytes() > 150e6, (held, rss_bytes())
    libc.free(keep)
