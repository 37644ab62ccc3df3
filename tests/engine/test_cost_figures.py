"""The cost page's figures and summary from a cost report (`segscope cost --json`)."""

from __future__ import annotations

from webapp.engine import cost_figures

REPORT = {
    "hosts": [
        {"host": "node-02", "at": "2026-11-26T04:59:32Z", "rules": 19, "set_members": 6,
         "flat_rules": 23, "traversed_avg": None, "traversed_max": None},
        {"host": "node-01", "at": "2026-11-26T04:59:37Z", "rules": 20, "set_members": 6,
         "flat_rules": 26, "traversed_avg": 5.84, "traversed_max": 8},
        {"host": "node-02", "at": "2026-11-26T04:59:37Z", "rules": 23, "set_members": 8,
         "flat_rules": 38, "traversed_avg": 7.02, "traversed_max": 9},
    ],
    "fleet": [{"at": "2026-11-26T04:59:32Z", "rules": 38, "set_members": 12, "flat_rules": 46},
              {"at": "2026-11-26T04:59:37Z", "rules": 43, "set_members": 14, "flat_rules": 64}],
    "activation": {"changes": 7, "seconds": 5.0, "per_second": 1.4, "needed": 0,
                   "needed_per_second": 0.0},
}


def test_it_takes_each_hosts_newest_entry() -> None:
    hosts = cost_figures.newest_per_host(REPORT)

    assert [(h["host"], h["rules"]) for h in hosts] == [("node-01", 20), ("node-02", 23)]


def test_it_sums_up_the_fleet_the_flat_acl_and_the_traversal() -> None:
    summary = cost_figures.summary(REPORT, cost_figures.newest_per_host(REPORT))

    assert (summary["rules"], summary["flat_rules"], summary["flat_factor"]) == (43, 64, 1.49)
    assert summary["rules_per_host"] == 21.5
    assert (summary["traversed_avg"], summary["traversed_max"]) == (6.43, 9)


def test_the_figures_draw_the_distribution_the_history_and_the_traversal() -> None:
    hosts = cost_figures.newest_per_host(REPORT)

    distribution = cost_figures.distribution_figure(hosts)
    history = cost_figures.history_figure(REPORT["fleet"])
    traversed = cost_figures.traversed_figure(hosts)

    assert [t["x"] for t in distribution["data"]] == [[20, 23], [6, 8]]
    assert [t["name"] for t in history["data"]] == ["rules", "set members",
                                                    "rules as a flat ACL"]
    assert history["data"][2]["y"] == [46, 64]
    assert traversed["data"][1]["y"] == [8, 9]


def test_an_empty_fleet_has_an_empty_summary() -> None:
    empty = {"hosts": [], "fleet": [], "activation": REPORT["activation"]}

    summary = cost_figures.summary(empty, [])

    assert (summary["at"], summary["rules"], summary["flat_factor"]) == (None, 0, None)
