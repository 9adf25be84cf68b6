"""CourtesyBudget: what callers who may not act are told, per user, per chat and in total per
window, driven by an injected clock; memory stays bounded whatever the flood."""

from __future__ import annotations

from datetime import timedelta

from handlers.auth import Authorizer, Budgets, Courtesy, CourtesyBudget, Verdict
from handlers.services import Caller
from tests.handlers.harness import chat_clock

A, S = Verdict.ANSWER, Verdict.SILENT
WHOAMI, REFUSAL = Courtesy.WHOAMI, Courtesy.REFUSAL


def test_whoami_per_user_then_one_note_then_silence_until_the_window_moves() -> None:
    clock = chat_clock()
    budget = CourtesyBudget(clock)
    me = Caller(1, 10)
    got = [budget.decide(me, WHOAMI) for _ in range(10)]
    assert got == [A, A, A, Verdict.SLOW_DOWN, S, S, S, S, S, S]
    clock.advance(timedelta(seconds=59))
    assert budget.decide(me, WHOAMI) is S  # the window slides from the first answer
    clock.advance(timedelta(seconds=2))
    assert [budget.decide(me, WHOAMI) for _ in range(5)] == [A, A, A, Verdict.SLOW_DOWN, S]
    assert (budget.answered, budget.silenced) == (8, 8)


def test_refusals_once_per_user_per_window_across_chats() -> None:
    clock = chat_clock()
    budget = CourtesyBudget(clock)
    assert budget.decide(Caller(1, 10), REFUSAL) is A
    assert budget.decide(Caller(1, 10), REFUSAL) is S  # no "slow down" for refusals
    assert budget.decide(Caller(2, 10), REFUSAL) is S  # the same user in another chat
    assert budget.decide(Caller(1, 11), REFUSAL) is A  # another user in the same chat
    assert budget.decide(Caller(3, None), REFUSAL) is A  # no sender: keyed by its chat
    assert budget.decide(Caller(3, None), REFUSAL) is S
    assert budget.decide(Caller(1, 10), WHOAMI) is A  # a budget of its own
    clock.advance(timedelta(minutes=1, seconds=1))
    assert budget.decide(Caller(2, 10), REFUSAL) is A


def test_the_chat_and_total_budgets_bound_many_strangers_but_not_a_trusted_caller() -> None:
    clock = chat_clock()
    budget = CourtesyBudget(clock, budgets=Budgets(per_chat=5, total=8))
    in_one_chat = [budget.decide(Caller(1, user), REFUSAL) for user in range(20)]
    assert in_one_chat.count(A) == 5
    elsewhere = [budget.decide(Caller(100 + n, 500 + n), WHOAMI) for n in range(20)]
    assert elsewhere.count(A) == 3  # 8 in total
    owner = Caller(1, 99)
    assert [budget.decide(owner, WHOAMI, trusted=True) for _ in range(5)] == [
        A, A, A, Verdict.SLOW_DOWN, S]  # only its own budget counts


def test_memory_stays_bounded_under_a_flood_of_distinct_strangers() -> None:
    clock = chat_clock()
    budget = CourtesyBudget(clock)
    for n in range(100_000):
        budget.decide(Caller(n, n), REFUSAL if n % 2 else WHOAMI)
        if n % 1000 == 0:
            clock.advance(timedelta(seconds=7))
        assert budget.tracked <= 4 * budget.budgets.total + 2
    assert budget.answered <= (700 // 60 + 1) * budget.budgets.total


def test_the_authorizer_budgets_whoami_for_everyone_and_refusals_for_strangers() -> None:
    clock = chat_clock()
    auth = Authorizer([1], [10], clock)
    owner, stranger = Caller(1, 10), Caller(1, 11)
    for user in range(100):  # strangers spend the chat's budget
        auth.refuse(Caller(1, 1000 + user), "/start")
    assert auth.refused == 100 and auth.courtesy.answered == Budgets().per_chat
    assert auth.whoami(stranger) is S
    assert [auth.whoami(owner) for _ in range(4)] == [A, A, A, Verdict.SLOW_DOWN]
    assert "3 time(s) per minute" in auth.slow_down_text()
