"""A study's progress bar: one bar for every round, labelled with the round, no time left shown before a
tenth of the runs (and eight) are done."""
import io

from hostcap.studies.progress import StudyProgress


def line(p: StudyProgress) -> str:
    return p.bar.format_meter(**p.bar.format_dict)


def test_one_bar_grows_by_round_and_shows_time_left_only_once_it_means_something():
    p = StudyProgress("winter")
    assert p.bar is None  # nothing drawn before a round starts
    p.next_round(100)
    p.bar.fp = io.StringIO()
    p.update(8)
    assert line(p).startswith("winter:") and "8/100 runs" in line(p) and "left" not in line(p)
    p.update(2)
    assert "10/100 runs" in line(p) and "left]" in line(p)
    p.next_round(50)
    assert line(p).startswith("winter round 2 (+50):") and "10/150 runs" in line(p) and "left" not in line(p)
    p.update(5)
    assert "15/150 runs" in line(p) and "left]" in line(p)
    p.close()
