"""Growth in the conversation engine: /broadcast's compose-preview-confirm flow (admins only,
text or photo, started once), /stop and /start, /invite's text, /history's re-sent results
with "🔁 Again"; and the referral code that the deep link carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.unit.test_conversation_fakes import Chat, FakeContext
from trt_actors.conversation.engine import MediaReply, MediaSent, Reply
from trt_actors.domain import referrals
from trt_actors.domain.history import StoredResult


@dataclass
class FakeGrowth:
    """``conversation.growth.GrowthOps`` in memory."""

    opted_out: bool = False
    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: list[StoredResult] = field(default_factory=list)
    invited: bool = False

    def invite(self) -> tuple[str | None, int, int, int]:
        return "https://t.me/bot?start=ref_7", 3, 1, 10

    def opt_out(self) -> None:
        self.opted_out = True

    def opt_in(self) -> bool:
        was, self.opted_out = self.opted_out, False
        return was

    def invited_now(self) -> bool:
        return self.invited

    def start_broadcast(self, draft: dict[str, Any], dedup_key: str) -> tuple[int, int] | None:
        if dedup_key in self.started:
            return None
        self.started[dedup_key] = draft
        return len(self.started), 1234

    def stored_results(self, limit: int) -> list[StoredResult]:
        return self.results[:limit]


def chat(*, admin: bool = False) -> tuple[Chat, FakeGrowth]:
    ctx = FakeContext(is_admin=admin)
    growth = FakeGrowth()
    ctx.growth = growth  # type: ignore[attr-defined]
    return Chat(ctx), growth


def texts(replies: list[Any]) -> list[str]:
    return [r.text for r in replies if isinstance(r, Reply)]


def test_an_admin_composes_previews_and_confirms_a_broadcast_once() -> None:
    c, growth = chat(admin=True)
    assert "Send the announcement" in texts(c.cmd("broadcast"))[0]
    preview = texts(c.type("New: Veo 3.1!"))[0]
    assert "Send this to every user" in preview and "New: Veo 3.1!" in preview
    send = c.button("Send")
    assert "Broadcast #1 started: 1234" in texts(c.press("Send"))[0]
    assert list(growth.started.values()) == [{"text": "New: Veo 3.1!"}]
    assert "expired" in texts(c.press_data(send.data))[0]  # a second tap starts nothing
    assert len(growth.started) == 1
    c.type("hello")  # composing is over: a text is not a new broadcast
    assert len(growth.started) == 1


def test_a_photo_with_its_caption_can_be_broadcast_and_cancel_drops_the_draft() -> None:
    c, growth = chat(admin=True)
    c.cmd("broadcast")
    assert "text, or a photo" in texts(c.media("video"))[0]  # a video is not taken
    c.send(MediaSent("photo", file_id="AgAD1", caption="Look!"))
    assert "🖼 a photo\nLook!" in c.screen()[0]
    assert texts(c.press("Cancel")) == ["📣 Broadcast cancelled."]
    assert growth.started == {}
    c.cmd("broadcast")
    c.send(MediaSent("photo", file_id="AgAD1", caption="Look!"))
    c.press("Send")
    assert list(growth.started.values()) == [{"photo": "AgAD1", "caption": "Look!"}]


def test_broadcast_is_for_admins_only() -> None:
    c, growth = chat(admin=False)
    assert texts(c.cmd("broadcast")) == [texts(c.cmd("grant"))[0]]
    c.type("hello everyone")
    assert growth.started == {}


def test_stop_opts_out_and_start_opts_back_in() -> None:
    c, growth = chat()
    assert "no more announcements" in texts(c.cmd("stop"))[0]
    assert growth.opted_out
    c.cmd("start")
    assert not growth.opted_out


def test_invite_shows_the_link_counts_and_bonus() -> None:
    c, _ = chat()
    (text,) = texts(c.cmd("invite"))
    assert "https://t.me/bot?start=ref_7" in text and "10 credits" in text
    assert "Invited: 3 · with a paid result: 1" in text


def test_history_sends_the_latest_results_again_with_again_under_each() -> None:
    c, growth = chat()
    growth.results = [StoredResult(9, "google/nano-banana", datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
                                   ({"media": "photo", "file_id": "F9"},)),
                      StoredResult(8, "z-image", datetime(2026, 1, 1, tzinfo=UTC),
                                   ({"media": "photo", "file_id": "F8"},))]
    resent = [r for r in c.cmd("history") if isinstance(r, MediaReply)]
    assert [r.files for r in resent] == [(("photo", "F8"),), (("photo", "F9"),)]  # newest last
    assert resent[1].caption.startswith("🗂 #9 · ") and "2026-01-02 03:04" in resent[1].caption
    assert resent[1].buttons == ((("🔁 Again", "again:9"),),)


@pytest.mark.parametrize("user_id", [1, 35, 36, 123456789, 7_000_000_000])
def test_a_referral_code_names_its_user(user_id: int) -> None:
    assert referrals.user_of(referrals.code_of(user_id)) == user_id


@pytest.mark.parametrize("code", ["", "0", "a-b", "ZZ!", "1" * 14])
def test_a_malformed_referral_code_names_nobody(code: str) -> None:
    assert referrals.user_of(code) is None
