"""The committed sweep files hold only cells the server accepts, at the worker
counts they run with (the default 2 and the WORKERS= override): a cap-5 cell
with equal spares (min idle 5 x 2 workers = 10 > 5) failed in every block of
the full sweep and stopped make experiments before saturation.py ran."""
import glob
import os

import pytest
import sweep

SWEEPS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "sweeps", "*.txt")))


@pytest.mark.parametrize("path", SWEEPS, ids=os.path.basename)
@pytest.mark.parametrize("workers", [None, 1, 2])
def test_sweep_cells_are_accepted_by_the_server(path, workers):
    cells = sweep.load(path)
    if workers:
        cells = sweep.override_workers(cells, workers)
    assert sweep.invalid(cells) == []


def test_invalid_names_the_cell_and_the_reason():
    c = sweep.parse_line("lockfree 5 300 5 600 8 20 64 6 5", "t:1")
    bad = sweep.invalid([dict(c, workers=2)])
    assert len(bad) == 1 and "exceeds --max-outbound-connections 5" in bad[0]
    assert sweep.invalid([dict(c, workers=1)]) == []
    assert sweep.invalid([dict(c, pool_type="highperf", workers=2)]) == []
