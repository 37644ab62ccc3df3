"""nftables: the `nft -j list ruleset` parser, its value types and per-file reports."""

from collectors.nft.model import (
    NftChain,
    NftObject,
    NftRule,
    NftRuleset,
    NftSet,
    NftTable,
    Unmodelled,
)
from collectors.nft.parse import parse_nft_json
from collectors.nft.render import render_expression, render_rule, render_statement
from collectors.nft.report import (
    NftReport,
    iptables_nft_tables,
    nft_report,
    report_nft_file,
    report_ruleset,
)
from collectors.nft.schema import priority_value

__all__ = [
    "NftChain", "NftObject", "NftReport", "NftRule", "NftRuleset", "NftSet", "NftTable",
    "Unmodelled", "iptables_nft_tables", "nft_report", "parse_nft_json", "priority_value",
    "render_expression", "render_rule", "render_statement", "report_nft_file", "report_ruleset",
]
