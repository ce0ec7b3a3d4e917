"""The issue-12 goal verdicts of the quality report read the interval, not only the mean."""

from __future__ import annotations

import math

from recall.bench.quality_report import _goal_verdict


def test_met_only_when_the_whole_interval_clears_the_goal() -> None:
    assert _goal_verdict({"value": 0.27, "ci_low": 0.265, "ci_high": 0.28}, 0.26) == "met"
    mean_only = _goal_verdict({"value": 0.2602, "ci_low": 0.2488, "ci_high": 0.2715}, 0.26)
    assert mean_only.startswith("met on the mean") and "below" in mean_only


def test_below_the_goal_says_whether_the_interval_reaches_it() -> None:
    reach = _goal_verdict({"value": 0.1755, "ci_low": 0.1619, "ci_high": 0.1891}, 0.1791)
    assert reach.startswith("not met on the mean")
    assert _goal_verdict({"value": 0.06, "ci_low": 0.05, "ci_high": 0.07}, 0.155) == "not met"


def test_one_seed_has_no_interval_and_says_so() -> None:
    assert "no interval" in _goal_verdict({"value": 0.3, "ci_low": math.nan}, 0.26)


def test_goal_rows_quote_the_setting_chosen_on_validation_not_the_best_test_row() -> None:
    import pandas as pd

    from recall.bench.quality_report import validated_node_row

    chosen = " + classifier chosen on valid"
    rows = pd.DataFrame(
        {
            "setting": ["defaults", "defaults" + chosen, "tuned on blogcatalog" + chosen,
                        "tuned (p, q grid)" + chosen],
            "value": [0.17, 0.175, 0.19, 0.173],
        }
    )  # fmt: skip
    # the grid's row (validation chose p, q and the classifier), though another test row is higher
    assert validated_node_row(rows)["value"] == 0.173
    # the cross-validated grid's row comes first when present
    cv = pd.DataFrame({"setting": ["tuned (p, q grid, 5-fold cv)" + chosen], "value": [0.171]})
    assert validated_node_row(pd.concat([rows, cv]))["value"] == 0.171
    assert validated_node_row(pd.concat([cv.assign(setting="tuned (p, q grid, 5-fold cv)"),
                                         rows]))["value"] == 0.173  # fmt: skip
    # within a setting, the classifier chosen by cross-validation comes before the fold's
    cvc = cv.assign(setting="tuned (p, q grid, 5-fold cv) + classifier chosen by 5-fold cv",
                    value=0.169)  # fmt: skip
    assert validated_node_row(pd.concat([rows, cv, cvc]))["value"] == 0.169
    # a cross-validated choice equal to the defaults keeps its place (not refit, marked)
    same = cv.assign(setting="tuned (p, q grid, 5-fold cv) (= defaults)" + chosen, value=0.168)
    assert validated_node_row(pd.concat([rows, same]))["value"] == 0.168
    no_grid = rows[~rows["setting"].str.startswith("tuned (p, q grid)")]
    assert validated_node_row(no_grid)["setting"] == "defaults" + chosen
