"""One host's rule tables (iptables, ip6tables, ipset, nftables) loaded and ready to explain."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from threading import Lock

from collectors.errors import ParseWarning
from collectors.ipset.values import IpSetDump
from collectors.iptables import Ruleset, parse_iptables_save
from collectors.nft.model import NftRuleset
from webapp.engine.evaluate import BaseChain, explain, iptables_base_chains
from webapp.engine.explanation import Explanation
from webapp.engine.iptables.compile import CompiledRuleset, compile_ruleset
from webapp.engine.iptables.matches import SetLookup
from webapp.engine.packet import Packet


@dataclass(slots=True)
class HostRules:
    """Compiled tables of both families plus nft base chains; `explain` picks by packet family."""

    iptables: dict[int, CompiledRuleset] = field(default_factory=dict)
    nft_chains: dict[int, list[BaseChain]] = field(default_factory=dict)
    warnings: list[ParseWarning] = field(default_factory=list)
    unmodelled: dict[str, int] = field(default_factory=dict)
    # Base chains in the order the host's nft listing shows them (registration order).
    registration: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _base_chains: dict[int, list[BaseChain]] = field(default_factory=dict, repr=False)
    local_addresses: frozenset[int] | None = None
    # The parsed dumps, kept for analyses that read rules as written (addresses, set members).
    rulesets: dict[int, Ruleset] = field(default_factory=dict, repr=False)
    ipsets: IpSetDump | None = field(default=None, repr=False)
    nft: NftRuleset | None = field(default=None, repr=False)

    def base_chains(self, family: int) -> list[BaseChain]:
        """Every base chain of one IP version, built once: explain runs on the hot path."""
        chains = self._base_chains.get(family)
        if chains is None:
            chains = list(self.nft_chains.get(family, []))
            if family in self.iptables:
                chains.extend(iptables_base_chains(self.iptables[family], self.registration))
            self._base_chains[family] = chains
        return chains

    def explain(self, packet: Packet, hook: str = "INPUT", trace: bool = True) -> Explanation:
        """Verdict and trace for one packet on this host."""
        return explain(self.base_chains(packet.family), packet, hook,
                       self.local_addresses, trace)


def load_host(iptables: str | None = None, ip6tables: str | None = None,
              ipset: str | None = None, nft_json: str | None = None,
              names: Sequence[str] = ("iptables-save", "ip6tables-save", "ipset-save", "nft.json"),
              local_addresses: frozenset[int] | None = None) -> HostRules:
    """Parse and compile whatever dumps a host gave; a malformed one raises ParseError."""
    host = HostRules(local_addresses=local_addresses)
    sets = _load_sets(ipset, names[2], host) if ipset is not None else None
    for text, name, default_family in ((iptables, names[0], None), (ip6tables, names[1], 6)):
        if text is None:
            continue
        ruleset = parse_iptables_save(text, name).check()
        compiled = compile_ruleset(ruleset, sets, family=default_family)
        if compiled.family in host.iptables:
            raise ValueError(f"{name}: a second IPv{compiled.family} rule set for one host")
        host.iptables[compiled.family] = compiled
        host.rulesets[compiled.family] = ruleset
        host.warnings.extend(compiled.warnings)
        for module, count in compiled.unmodelled.items():
            host.unmodelled[module] = host.unmodelled.get(module, 0) + count
    if nft_json is not None:
        # `nft list ruleset` shows iptables-nft's own tables too; the iptables dumps describe
        # them (with rule numbers as iptables counts them), so nft must not run them again.
        same = {("ip" if family == 4 else "ip6", table)
                for family, compiled in host.iptables.items() for table in compiled.tables}
        _load_nft(nft_json, names[3], host, same)
    return host


# The last sets parsed under each dump name (a host's: the analysis names dumps by host), by
# the text's digest: a host's new rules mostly come with the same sets, whose thousands of
# members cost more to parse than the rules. Parsed and compiled sets are never changed, so
# the host's new state shares them with the old one; one entry a name bounds the memory.
_LAST_SETS: dict[str, tuple[bytes, IpSetDump, SetLookup]] = {}
_SETS_LOCK = Lock()


def _load_sets(text: str, name: str, host: HostRules) -> SetLookup:
    from collectors.ipset import parse_ipset_save
    from webapp.engine.iptables.ipsets import compile_sets

    digest = hashlib.sha256(text.encode()).digest()
    with _SETS_LOCK:
        last = _LAST_SETS.get(name)
    if last is not None and last[0] == digest:
        dump, lookup = last[1], last[2]
    else:
        dump = parse_ipset_save(text, name)
        lookup = compile_sets(dump)
        with _SETS_LOCK:
            _LAST_SETS[name] = (digest, dump, lookup)
    host.ipsets = dump
    host.warnings.extend(dump.warnings)
    return lookup


def _load_nft(text: str, name: str, host: HostRules, skip: set[tuple[str, str]]) -> None:
    from collectors.nft import iptables_nft_tables, parse_nft_json
    from webapp.engine.nft.evaluate import compile_nft

    ruleset = parse_nft_json(text, name)
    host.nft = ruleset
    compiled = compile_nft(ruleset, skip)
    for family, base in compiled.base_chains.items():
        host.nft_chains.setdefault(family, []).extend(base)
    host.warnings.extend(compiled.warnings)
    host.warnings.extend(
        ParseWarning(name, 1, f"table {family} {table} looks made by iptables-nft: give its "
                     "iptables-save too, whose rule numbers and matches Segscope reads exactly")
        for family, table in iptables_nft_tables(ruleset) if (family, table) not in skip)
    host.registration.update(compiled.registration)
