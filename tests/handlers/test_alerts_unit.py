"""Alert modes, STOP_MOVED coalescing, the thread-safe inbox, confirmation expiry."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from pathlib import Path

from agent.clock import SimClock
from agent.events import AlertKind, Notification, PauseEntries
from handlers.alerts import AlertDispatcher, AlertPrefs, format_alert
from handlers.confirm import Choice, Confirmations, Refusal
from handlers.inbox import AlertInbox
from storage.prefs import Prefs
from tests.handlers.harness import run
from tests.helpers import at


def _move(t: datetime, old: str, new: str, symbol: str = "NSE:AAA",
          interval: int | None = None) -> Notification:
    data: dict[str, object] = {"old": old, "stop": new}
    if interval is not None:
        data["interval"] = interval
    return Notification(AlertKind.STOP_MOVED, f"{symbol} stop moved {old} -> {new}", t, symbol,
                        data=data)


def _dispatcher(tmp: Path) -> AlertDispatcher:
    return AlertDispatcher(AlertPrefs(Prefs.in_dir(tmp)))


def test_alert_line_names_kind_time_and_text_escaped() -> None:
    note = Notification(AlertKind.ORDER_REJECTED, "NSE:AAA ENTRY rejected: <margin> & more",
                        at(9, 25, 10), "NSE:AAA")
    assert format_alert(note) == ("<b>REJECTED</b> 09:25:10 NSE:AAA ENTRY rejected: "
                                  "&lt;margin&gt; &amp; more")
    login = Notification(AlertKind.LOGIN_NEEDED, "no access token", at(8, 0))
    assert format_alert(login).endswith("- /login")


def test_modes_off_and_silent_apply_and_persist(tmp_path: Path) -> None:
    prefs = AlertPrefs(Prefs.in_dir(tmp_path))
    prefs.set([AlertKind.ENTRY_PLACED], "off")
    prefs.set([AlertKind.ENTRY_FILLED], "silent")
    dispatcher = AlertDispatcher(AlertPrefs(Prefs.in_dir(tmp_path)))  # read back from disk
    out = dispatcher.prepare([
        Notification(AlertKind.ENTRY_PLACED, "placed", at(9, 25)),
        Notification(AlertKind.ENTRY_FILLED, "filled", at(9, 25)),
        Notification(AlertKind.ERROR, "boom", at(9, 26))])
    assert [(a.text.split("</b>")[0], a.silent) for a in out] == [
        ("<b>entry filled", True), ("<b>ERROR", False)]


def test_stop_moves_are_off_by_default_and_fold_into_one_message_per_candle(
        tmp_path: Path) -> None:
    dispatcher = _dispatcher(tmp_path)
    assert dispatcher.prepare([_move(at(9, 30, 1), "99.50", "105.00")]) == []  # off
    dispatcher.prefs.set([AlertKind.STOP_MOVED], "on")
    out = dispatcher.prepare([_move(at(9, 31, 1), "99.50", "105.00"),
                              _move(at(9, 31, 2), "99.00", "120.00", "NSE:BBB"),
                              _move(at(9, 31, 40), "105.00", "108.00")])
    assert [a.text for a in out] == ["↕️ <b>2 stops moved</b> · 09:31:40\n"
                                     "NSE:AAA 99.50 → 108.00\nNSE:BBB 99.00 → 120.00"]
    # Same minute (no interval given: one-minute buckets) after it went out: dropped.
    assert dispatcher.prepare([_move(at(9, 31, 59), "108.00", "109.00")]) == []
    assert dispatcher.coalesced == 2
    (later,) = dispatcher.prepare([_move(at(9, 35, 0), "109.00", "110.00")])
    assert later.text == "↕️ <b>Stop moved</b> · 09:35:00\nNSE:AAA 109.00 → 110.00"
    # A 5-minute instrument: one message per candle (its moves come at candle ends).
    assert dispatcher.prepare([_move(at(9, 40, 2), "1.00", "2.00", "NSE:CCC", 5)]) != []
    assert dispatcher.prepare([_move(at(9, 43, 0), "2.00", "3.00", "NSE:CCC", 5)]) == []
    (next_candle,) = dispatcher.prepare([_move(at(9, 45, 2), "3.00", "4.00", "NSE:CCC", 5)])
    assert "NSE:CCC 3.00 → 4.00" in next_candle.text


def test_dropped_count_becomes_a_warning_line(tmp_path: Path) -> None:
    (warning,) = _dispatcher(tmp_path).prepare([], dropped=7)
    assert "7 alert(s) were dropped" in warning.text


def test_inbox_put_from_another_thread_wakes_the_loop_and_overflow_drops_oldest() -> None:
    async def body() -> None:
        inbox = AlertInbox(maxlen=3)
        inbox.bind(asyncio.get_running_loop())
        notes = [Notification(AlertKind.ERROR, f"n{i}", at(9, 0, i)) for i in range(5)]
        done = threading.Event()

        def engine_thread() -> None:
            for note in notes:
                inbox.put(note)  # must never block
            done.set()

        threading.Thread(target=engine_thread).start()
        assert await asyncio.to_thread(done.wait, 5)
        batch, dropped = await asyncio.wait_for(inbox.get_batch(), 5)
        assert [n.text for n in batch] == ["n2", "n3", "n4"]
        assert dropped == 2 and inbox.dropped == 2
        # Empty now: a waiting consumer wakes on the next put from a thread.
        waiter = asyncio.create_task(inbox.get_batch())
        await asyncio.sleep(0)
        assert not waiter.done()
        threading.Thread(target=inbox.put, args=(notes[0],)).start()
        batch, dropped = await asyncio.wait_for(waiter, 5)
        assert [n.text for n in batch] == ["n0"] and dropped == 0

    run(body())


def test_confirmation_buttons_work_once_only_in_their_chat_and_expire() -> None:
    clock = SimClock(at(9, 0))
    store = Confirmations(clock, timedelta(seconds=60))
    yes, no = store.offer(1, "pause", (Choice("Yes", PauseEntries()), Choice("No", None)))
    assert isinstance(store.take(2, yes.data), Refusal)  # another chat
    choice = store.take(1, yes.data)
    assert isinstance(choice, Choice) and choice.command == PauseEntries()
    reused = store.take(1, no.data)
    assert isinstance(reused, Refusal) and not reused.expired
    assert "already used" in reused.reason
    (late,) = store.offer(1, "pause", (Choice("Yes", PauseEntries()),))
    clock.advance(timedelta(seconds=61))
    expired = store.take(1, late.data)
    assert isinstance(expired, Refusal) and expired.expired and "expired" in expired.reason
    assert "pause" in expired.reason
    assert isinstance(store.take(1, "c:zz:x"), Refusal)
    assert store.pending() == 0
