"""nftables: its types, expressions, statements, sets, NAT and evaluation."""
