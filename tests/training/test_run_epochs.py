from keras_enlca.training.run_epochs import epoch_complete
from keras_enlca.training.run_epochs import epoch_segments


def test_epoch_segments():
    assert list(epoch_segments(0, 30, 10)) == [(0, 3, 10)]
    assert list(epoch_segments(13, 30, 10)) == [(1, 2, 7), (2, 3, 10)]
    assert list(epoch_segments(0, 25, 10)) == [(0, 2, 10), (2, 3, 5)]
    assert list(epoch_segments(22, 25, 10)) == [(2, 3, 3)]
    assert list(epoch_segments(7, 8, 10)) == [(0, 1, 1)]
    assert list(epoch_segments(30, 30, 10)) == []
    # Every plan covers exactly the remaining steps.
    for start in range(0, 26):
        plan = list(epoch_segments(start, 26, 4))
        assert sum((last - first) * steps for first, last, steps in plan) == 26 - start


def test_epoch_complete():
    assert [s for s in range(0, 26) if epoch_complete(s, 10, 25)] == [0, 10, 20, 25]
    assert epoch_complete(30, 10, 25)  # past the end
    # Every segment of a plan ends on a complete epoch.
    for start in range(0, 26):
        step = start
        for first, last, steps in epoch_segments(start, 26, 4):
            step += (last - first) * steps
            assert epoch_complete(step, 4, 26)
