"""iptables and ipset: rules compiled into checks and targets, set lookups."""
