import numpy as np

from hostcap.models.population import draw_candidates, sample_seed_sequence


def test_nested_placement_and_bidirectional_sets():
    cand = draw_candidates(sample_seed_sequence(7, "simbench:x", 3), 100)
    homes = np.arange(100) * 2
    previous_cp, previous_bidir = set(), set()
    for pen in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        cp, bidir, _ = cand.chosen(homes, pen, 0.5)
        assert len(cp) == round(pen * 100)
        assert previous_cp <= set(cp)
        assert previous_bidir <= set(cp[bidir])
        previous_cp, previous_bidir = set(cp), set(cp[bidir])


def test_same_seed_same_draws_other_sample_other_draws():
    a = draw_candidates(sample_seed_sequence(7, "f", 0), 50)
    b = draw_candidates(sample_seed_sequence(7, "f", 0), 50)
    c = draw_candidates(sample_seed_sequence(7, "f", 1), 50)
    assert np.array_equal(a.order, b.order)
    assert np.array_equal(a.vehicles["capacity_kwh"], b.vehicles["capacity_kwh"])
    assert not np.array_equal(a.order, c.order)
