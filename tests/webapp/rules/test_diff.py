"""The rule diff between two snapshots: pure, per chain, rules compared as multisets."""

from webapp.rules.services import RuleLine, diff_rules


def _chain(chain: str, *texts: str, table: str = "filter") -> list[RuleLine]:
    return [RuleLine("ipv4", table, chain, i, text) for i, text in enumerate(texts, start=1)]


def test_it_reports_added_and_removed_rules_per_chain() -> None:
    before = _chain("INPUT", "-A INPUT -j ACCEPT", "-A INPUT -p tcp --dport 22 -j ACCEPT")
    after = _chain("INPUT", "-A INPUT -j ACCEPT", "-A INPUT -p tcp --dport 2222 -j ACCEPT")

    [change] = diff_rules(before, after)

    assert (change.table, change.chain) == ("filter", "INPUT")
    assert [(r.position, r.text) for r in change.added] == [
        (2, "-A INPUT -p tcp --dport 2222 -j ACCEPT")]
    assert [(r.position, r.text) for r in change.removed] == [
        (2, "-A INPUT -p tcp --dport 22 -j ACCEPT")]


def test_a_rule_that_only_moved_is_no_change() -> None:
    before = _chain("INPUT", "-A INPUT -i lo -j ACCEPT", "-A INPUT -j DROP")
    after = _chain("INPUT", "-A INPUT -j DROP", "-A INPUT -i lo -j ACCEPT")

    assert diff_rules(before, after) == []


def test_a_rule_written_twice_counts_twice() -> None:
    before = _chain("INPUT", "-A INPUT -j LOG")
    after = _chain("INPUT", "-A INPUT -j LOG", "-A INPUT -j LOG")

    [change] = diff_rules(before, after)

    assert [(r.position, r.text) for r in change.added] == [(2, "-A INPUT -j LOG")]
    assert change.removed == ()


def test_whole_chains_appear_and_disappear_and_quiet_chains_are_left_out() -> None:
    before = _chain("INPUT", "-A INPUT -j ACCEPT") + _chain("old", "-A old -j DROP")
    after = _chain("INPUT", "-A INPUT -j ACCEPT") + _chain("new", "-A new -j DROP",
                                                           table="raw")

    changes = diff_rules(before, after)

    assert [(c.table, c.chain, len(c.added), len(c.removed)) for c in changes] == [
        ("filter", "old", 0, 1), ("raw", "new", 1, 0)]
