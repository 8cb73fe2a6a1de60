"""SupervisedActor: failures are reported, and a failing actor dies alone."""

from __future__ import annotations

import pykka
import pytest

from supervision import ActorCrashed, ChildSpec, NotLinked, Restart, SupervisedActor
from tests.unit.test_supervision_support import (
    WAIT,
    Recorder,
    Worker,
    _stop_all_actors,  # noqa: F401 - the autouse teardown
    child_view,
    make,
    ref_of,
    wait_running,
    worker,
)


class Bystander(pykka.ThreadingActor):
    """A plain pykka actor outside supervision: it must survive everyone else's crashes."""

    def on_receive(self, message: object) -> object:
        return "still here"


@pytest.mark.parametrize("message", ["exit", "interrupt"])
def test_base_exception_in_tell_handler_kills_only_that_child_and_it_is_restarted(
    message: str,
) -> None:
    rec = Recorder()
    bystander = Bystander.start()
    sup = make([worker("a", rec), worker("b", rec)])
    sup.start()
    first_a, b = ref_of(sup, "a"), ref_of(sup, "b")

    first_a.tell(message)

    new_a = wait_running(sup, "a", restarts=1)
    assert new_a.actor_urn != first_a.actor_urn
    assert new_a.ask("ping", timeout=WAIT) == "pong"
    assert b.ask("ping", timeout=WAIT) == "pong"
    assert ref_of(sup, "b") is b
    assert bystander.ask("hello", timeout=WAIT) == "still here"
    assert rec.count("failure", "a") == 1
    expected = "SystemExit: 3" if message == "exit" else "KeyboardInterrupt"
    assert child_view(sup.snapshot(), "a")["last_failure"]["reason"] == expected


def test_system_exit_in_ask_handler_raises_actor_crashed_to_caller_and_restarts() -> None:
    rec = Recorder()
    sup = make([worker("a", rec), worker("b", rec)])
    sup.start()
    first_a = ref_of(sup, "a")

    with pytest.raises(ActorCrashed) as caught:
        first_a.ask("exit", timeout=WAIT)

    assert isinstance(caught.value, pykka.ActorDeadError)
    assert isinstance(caught.value.__cause__, SystemExit)
    assert wait_running(sup, "a", restarts=1).ask("ping", timeout=WAIT) == "pong"
    assert rec.count("failure", "a") == 1
    assert ref_of(sup, "b").ask("ping", timeout=WAIT) == "pong"


def test_exception_in_ask_handler_goes_to_caller_and_the_actor_keeps_running() -> None:
    rec = Recorder()
    sup = make([worker("a", rec)])
    sup.start()
    a = ref_of(sup, "a")

    with pytest.raises(ValueError, match="boom"):
        a.ask("boom", timeout=WAIT)

    assert a.ask("ping", timeout=WAIT) == "pong"
    view = child_view(sup.snapshot(), "a")
    assert (view["state"], view["restarts"], view["last_failure"]) == ("running", 0, None)
    assert rec.count("failure", "a") == 0


def test_exception_in_tell_handler_runs_on_failure_and_restarts() -> None:
    rec = Recorder()
    sup = make([worker("a", rec)])
    sup.start()

    ref_of(sup, "a").tell("boom")

    assert wait_running(sup, "a", restarts=1).ask("ping", timeout=WAIT) == "pong"
    assert rec.count("failure", "a") == 1
    assert child_view(sup.snapshot(), "a")["last_failure"]["reason"] == "ValueError: boom"


@pytest.mark.parametrize("error", [RuntimeError, SystemExit])
def test_failure_in_on_start_is_restarted_and_others_keep_running(
    error: type[BaseException],
) -> None:
    rec = Recorder()
    bystander = Bystander.start()
    sup = make([worker("a", rec, failing_starts=1, start_error=error), worker("b", rec)])
    sup.start()

    a = wait_running(sup, "a", restarts=1)

    assert a.ask("ping", timeout=WAIT) == "pong"
    assert rec.count("start", "a") == 2
    assert ref_of(sup, "b").ask("ping", timeout=WAIT) == "pong"
    assert bystander.ask("hello", timeout=WAIT) == "still here"
    reason = child_view(sup.snapshot(), "a")["last_failure"]["reason"]
    assert reason == f"{error.__name__}: on_start failed"


def test_unsupervised_actor_dies_alone_on_system_exit() -> None:
    rec = Recorder()
    bystander = Bystander.start()
    loner = Worker.start("loner", rec)

    loner.tell("exit")

    assert loner.actor_stopped.wait(WAIT)
    assert bystander.ask("hello", timeout=WAIT) == "still here"
    assert rec.count("failure", "loner") == 1
    with pytest.raises(pykka.ActorDeadError):
        loner.ask("ping", timeout=WAIT)


def test_factory_of_a_plain_pykka_actor_is_refused_and_the_actor_stopped() -> None:
    started: list[pykka.ActorRef[Bystander]] = []

    def plain() -> pykka.ActorRef[Bystander]:
        started.append(Bystander.start())
        return started[-1]

    sup = make([ChildSpec("plain", plain, Restart.TEMPORARY)])
    sup.start()

    view = child_view(sup.snapshot(), "plain")
    assert view["state"] == "failed"
    assert view["last_failure"]["reason"].startswith(NotLinked.__name__)
    assert started[0].actor_stopped.wait(WAIT)


def test_supervised_actor_is_a_normal_pykka_actor_for_proxies() -> None:
    class Counter(SupervisedActor):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def bump(self) -> int:
            self.n += 1
            return self.n

    sup = make([ChildSpec("counter", Counter.start)])
    sup.start()
    proxy = ref_of(sup, "counter").proxy()

    assert proxy.bump().get(timeout=WAIT) == 1
    assert proxy.bump().get(timeout=WAIT) == 2
