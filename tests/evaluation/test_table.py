import numpy as np

from sarflow.evaluation import evaluate_offsets, format_metrics_table, metrics_rows


def test_table_lists_every_group_with_aligned_columns():
    truth = np.zeros((4, 4))
    truth[2:] = 10.0
    est = truth + 0.2
    m = evaluate_offsets(est, truth, truth, truth, mask=truth > 0)
    text = format_metrics_table(metrics_rows(m))
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["group", "points", "coverage", "RMSE"]
    labels = [line[:16].strip() for line in lines[2:]]
    assert labels == ["all points", "|truth| < 0.5 px", "|truth| 0.5-5 px", "|truth| >= 5 px", "inside mask",
                      "outside mask"]
    assert len({len(line) for line in lines}) == 1  # fixed width
    assert "0.200" in lines[2] and "100.0%" in lines[2]
    assert lines[4].split()[-1] == "-"  # an empty band shows dashes, not NaN
