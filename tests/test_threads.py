"""Helper threads: results in submission order, bounded look-ahead, errors reach the caller."""

import threading
import time

import pytest

from al_bench.threads import InOrder, read_ahead


@pytest.mark.parametrize("enabled", [True, False])
def test_in_order_returns_results_in_submission_order(enabled):
    def slow_square(i):
        time.sleep(0.02 if i % 2 == 0 else 0.0)  # the helper finishes out of step with the caller
        return i * i, threading.current_thread().name

    with InOrder(enabled, ahead=2) as work:
        for i in range(7):
            work.submit(slow_square, i)
        out = work.results()
    assert [value for value, _ in out] == [i * i for i in range(7)]
    threads = {name for _, name in out}
    assert (threads != {threading.current_thread().name}) == enabled


def test_in_order_keeps_at_most_ahead_calls_waiting():
    started = []
    gate = threading.Event()

    def blocked(i):
        started.append(i)
        gate.wait(5)
        return i

    with InOrder(True, ahead=2) as work:
        work.submit(blocked, 0)
        work.submit(blocked, 1)
        helper = threading.Thread(target=lambda: work.submit(blocked, 2))  # must wait for call 0
        helper.start()
        helper.join(0.2)
        assert helper.is_alive()
        gate.set()
        helper.join(5)
        assert work.results() == [0, 1, 2]


def test_in_order_raises_the_calls_error():
    def fail(i):
        raise ValueError(f"bad batch {i}")

    with pytest.raises(ValueError, match="bad batch 0"), InOrder(True) as work:
        work.submit(fail, 0)
        work.results()


@pytest.mark.parametrize("enabled", [True, False])
def test_read_ahead_yields_every_item_in_order(enabled):
    assert list(read_ahead(iter(range(10)), enabled, depth=3)) == list(range(10))


def test_read_ahead_raises_the_producers_error_where_it_happened():
    def items():
        yield 1
        yield 2
        raise OSError("unreadable image 000000000042.png")

    stream = read_ahead(items())
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(OSError, match="000000000042.png"):
        next(stream)


def test_read_ahead_stops_the_producer_when_the_consumer_stops():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = read_ahead(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer breaks off
    assert len(produced) <= 5  # the producer ran at most depth + a few items ahead, then stopped
