"""The per-source limiter of forged callbacks: when a source is refused, for how long, who
never is, and that its memory stays bounded whatever the number of senders."""

from __future__ import annotations

from gateways.kie.abuse import AbusePolicy, SourceLimiter, record_of, source_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(**policy: float) -> tuple[SourceLimiter, Clock]:
    clock = Clock()
    return SourceLimiter(AbusePolicy(**policy), clock=clock), clock  # type: ignore[arg-type]


def test_a_source_is_refused_at_the_limit_within_the_window_and_heard_again_later() -> None:
    lim, clock = limiter(forged_limit=3, window_s=60, block_s=300)
    assert [lim.forged("10.0.0.1") for _ in range(2)] == [False, False]
    clock.now += 61  # the first two fell out of the window
    assert [lim.forged("10.0.0.1") for _ in range(2)] == [False, False]
    assert lim.refused("10.0.0.1") is None
    assert lim.forged("10.0.0.1") is True
    assert lim.refused("10.0.0.1") == 300 and lim.refused("10.0.0.2") is None
    assert lim.snapshot()["sources_refused"] == 1
    clock.now += 300
    assert lim.refused("10.0.0.1") is None and lim.snapshot()["sources_refused"] == 0


def test_a_source_that_sent_an_authentic_callback_is_never_refused() -> None:
    lim, clock = limiter(forged_limit=2, trust_s=3600)
    lim.authentic("10.0.0.1")
    assert not any(lim.forged("10.0.0.1") for _ in range(50))
    assert lim.refused("10.0.0.1") is None
    clock.now += 3601  # trust ends
    assert [lim.forged("10.0.0.1") for _ in range(2)] == [False, True]


def test_memory_is_bounded_whatever_the_number_of_sources() -> None:
    lim, _ = limiter(forged_limit=2, max_sources=100)
    for n in range(10_000):
        source = f"10.{n // 65536}.{n // 256 % 256}.{n % 256}"
        lim.forged(source)
        lim.forged(source)  # refused
        lim.authentic(f"192.168.{n // 256 % 256}.{n % 256}")
    snap = lim.snapshot()
    assert snap["sources_refused"] <= 100 and snap["sources_tracked"] <= 100
    assert snap["sources_trusted"] <= 100 and snap["source_refusals"] == 10_000


def test_an_ipv6_sender_counts_with_its_64_and_block_0_never_refuses() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2:aaaa::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7" and source_key(None) == "unknown"
    lim, _ = limiter(forged_limit=1, block_s=0)
    assert not lim.forged("10.0.0.1") and lim.refused("10.0.0.1") is None


def test_a_rejected_body_keeps_its_first_kb_size_and_digest() -> None:
    body = b"x" * 5000
    kept = record_of(body, whole=False)
    assert (len(kept.body), kept.size, len(kept.sha256)) == (1024, 5000, 64)
    assert record_of(body, whole=True).body == body
