"""Files users send as model inputs, the engine's side: photos, albums, wrong kinds, too big,
failed uploads (the transfer itself is the edge's: tests/integration/test_file_inputs.py)."""

from __future__ import annotations

from tests.unit.test_conversation_fakes import Chat
from trt_actors.conversation.engine import FileFailed, FileReady, MediaSent

MB = 1024 * 1024


def photo(n: int = 1, *, size: int = 100_000, group: str | None = None) -> MediaSent:
    return MediaSent("photo", file_id=f"F{n}", file_unique_id=f"U{n}", size=size,
                     media_group_id=group)


def start(chat: Chat, kind: str, model: str) -> None:
    chat.cmd("start")
    chat.press("Images")
    chat.press(kind)
    chat.press(model)
    chat.press("Start")
    chat.type("make it snow")


def test_a_photo_becomes_the_image_field_after_its_upload() -> None:
    chat = Chat()
    start(chat, "Image editing", "Qwen Image Edit")
    assert "Step 2/2" in chat.text() and "photo or file" in chat.text()
    chat.send(photo())
    assert "uploading" in chat.text()
    [transfer] = chat.ctx.transfers
    assert transfer["file_id"] == "F1" and transfer["size"] == 100_000
    chat.send(FileReady(transfer["id"], "https://kie.example/u/1.jpg", 1000.0))
    assert "Optional settings" in chat.text()
    w = chat.state["wizard"]
    assert w["values"]["image_url"] == "https://kie.example/u/1.jpg"
    assert w["files"]["image_url"][0]["file_id"] == "F1"
    assert w["files"]["image_url"][0]["uploaded_at"] == 1000.0
    chat.press("defaults")  # "Use defaults" / "Continue"
    assert "https://kie.example/u/1.jpg" in chat.text()


def test_an_album_fills_a_list_field_and_done_finishes_it() -> None:
    chat = Chat()
    start(chat, "Image editing", "Nano Banana Edit")
    assert "up to 10" in chat.text()
    for n in (1, 2):
        chat.send(photo(n, group="G"))
    first, second = chat.ctx.transfers
    chat.send(FileReady(first["id"], "https://kie.example/u/1.jpg", 1.0))
    assert "received" not in chat.text().lower()  # the album's second one is still coming
    chat.send(FileReady(second["id"], "https://kie.example/u/2.jpg", 2.0))
    assert "2 of up to 10 images" in chat.text()
    chat.press("Done")
    assert chat.state["wizard"]["values"]["image_urls"] == [
        "https://kie.example/u/1.jpg", "https://kie.example/u/2.jpg"]
    assert "Step" not in chat.text() or "Step 1" not in chat.text()


def test_wrong_kind_too_big_and_failed_upload_ask_the_same_question() -> None:
    chat = Chat()
    start(chat, "Image editing", "Qwen Image Edit")
    chat.send(MediaSent("document", file_id="P", mime_type="application/pdf", size=5000))
    assert "needs an image" in chat.text() and "Step 2/2" in chat.text()
    chat.send(photo(size=21 * MB))
    assert "20 MB" in chat.text() and "Step 2/2" in chat.text()
    assert chat.ctx.transfers == []
    chat.send(MediaSent("document", file_id="D", file_unique_id="UD",
                        mime_type="image/png", file_name="cat.png", size=5000))
    [transfer] = chat.ctx.transfers
    assert transfer["name"] == "cat.png"
    chat.send(FileFailed(transfer["id"], "kie"))
    assert "could not be uploaded" in chat.text() and "Nothing was charged" in chat.text()
    assert "Step 2/2" in chat.text()
    assert chat.ctx.confirm_calls == 0
    chat.send(photo(2))
    chat.send(FileFailed(chat.ctx.transfers[-1]["id"], "too_big"))
    assert "20 MB" in chat.text() and "Step 2/2" in chat.text()


def test_a_late_upload_after_cancel_is_ignored_and_links_still_work() -> None:
    chat = Chat()
    start(chat, "Image editing", "Qwen Image Edit")
    chat.send(photo())
    chat.press("Cancel")
    chat.send(FileReady(chat.ctx.transfers[0]["id"], "https://kie.example/u/1.jpg", 1.0))
    assert chat.last == []
    start(chat, "Image editing", "Qwen Image Edit")
    chat.type("https://example.com/cat.png")
    assert "Optional settings" in chat.text()


def test_a_photo_sent_again_replaces_one_whose_upload_never_came_back() -> None:
    # A kill -9 during the upload: the restarted node never hears of that transfer. The
    # user, left at "uploading", sends the photo again: it is taken, not refused as one too
    # many; the lost transfer's late answer (if any) changes nothing.
    chat = Chat()
    start(chat, "Image editing", "Qwen Image Edit")
    chat.send(photo(1))
    chat.send(photo(2))
    assert "not taken" not in chat.text()
    lost, again = chat.ctx.transfers
    assert again["file_id"] == "F2"
    chat.send(FileReady(again["id"], "https://kie.example/u/2.jpg", 2.0))
    assert "Optional settings" in chat.text()
    chat.send(FileReady(lost["id"], "https://kie.example/u/1.jpg", 1.0))
    w = chat.state["wizard"]
    assert w["values"]["image_url"] == "https://kie.example/u/2.jpg"
    assert [f["file_id"] for f in w["files"]["image_url"]] == ["F2"]


def test_russian_texts() -> None:
    chat = Chat(language_code="ru")
    chat.cmd("start")
    chat.press("Изображения")
    chat.press("Редактирование")
    chat.press("Qwen")
    chat.press("▶️")
    chat.type("снег")
    chat.send(photo(size=30 * MB))
    assert "20 МБ" in chat.text()

