"""The vocabulary of ipset dumps: set types and their dimensions, the ipset 4 type names,
protocol, ICMP and service names, and the create, member and command words."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

# Dimension kinds of every set type, in element order. "ip" is looked up exactly (ranges and
# CIDRs are shorthand for many hosts), "net" by longest prefix with nomatch.
SET_TYPES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "bitmap:ip": ("ip",),
    "bitmap:ip,mac": ("ip", "mac"),
    "bitmap:port": ("port",),
    "hash:ip": ("ip",),
    "hash:mac": ("mac",),
    "hash:ip,mac": ("ip", "mac"),
    "hash:net": ("net",),
    "hash:net,net": ("net", "net"),
    "hash:ip,port": ("ip", "port"),
    "hash:net,port": ("net", "port"),
    "hash:ip,port,ip": ("ip", "port", "ip"),
    "hash:ip,port,net": ("ip", "port", "net"),
    "hash:ip,mark": ("ip", "mark"),
    "hash:net,port,net": ("net", "port", "net"),
    "hash:net,iface": ("net", "iface"),
    "list:set": ("set",),
})

# ipset 4 type names, still accepted by ipset 6 and 7 (`iptree*` are replaced by hash:ip).
TYPE_ALIASES: Final = {
    "iphash": "hash:ip", "nethash": "hash:net", "ipporthash": "hash:ip,port",
    "ipportiphash": "hash:ip,port,ip", "ipportnethash": "hash:ip,port,net",
    "ipmap": "bitmap:ip", "portmap": "bitmap:port", "macipmap": "bitmap:ip,mac",
    "setlist": "list:set", "iptree": "hash:ip", "iptreemap": "hash:ip",
}
NO_FAMILY: Final = frozenset({"hash:mac", "bitmap:port", "list:set"})
INET_ONLY: Final = frozenset({"bitmap:ip", "bitmap:ip,mac"})

# /etc/protocols (netbase) names that ipset prints and accepts; numbers are accepted too.
PROTOCOLS: Final[Mapping[str, int]] = MappingProxyType({
    "ip": 0, "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6,
    "egp": 8, "igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27,
    "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41,
    "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "skip": 57, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73,
    "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94, "etherip": 97, "encap": 98,
    "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124, "sctp": 132, "fc": 133,
    "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138, "hip": 139,
    "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
})
PROTO_NAMES: Final = {n: s for s, n in reversed(list(PROTOCOLS.items())) if s != "icmpv6"}
PORT_PROTOCOLS: Final = frozenset({6, 17, 132, 136})
ICMP, ICMPV6 = 1, 58

# ICMP names of ipset 7 (lib/icmp.c, lib/icmpv6.c), checked against `ipset save` output.
ICMP_TYPES: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({
    "echo-reply": (0, 0), "pong": (0, 0), "network-unreachable": (3, 0),
    "host-unreachable": (3, 1), "protocol-unreachable": (3, 2), "port-unreachable": (3, 3),
    "fragmentation-needed": (3, 4), "source-route-failed": (3, 5), "network-unknown": (3, 6),
    "host-unknown": (3, 7), "network-prohibited": (3, 9), "host-prohibited": (3, 10),
    "tos-network-unreachable": (3, 11), "tos-host-unreachable": (3, 12),
    "communication-prohibited": (3, 13), "host-precedence-violation": (3, 14),
    "precedence-cutoff": (3, 15), "source-quench": (4, 0), "network-redirect": (5, 0),
    "host-redirect": (5, 1), "tos-network-redirect": (5, 2), "tos-host-redirect": (5, 3),
    "echo-request": (8, 0), "ping": (8, 0), "router-advertisement": (9, 0),
    "router-solicitation": (10, 0), "ttl-zero-during-transit": (11, 0),
    "ttl-zero-during-reassembly": (11, 1), "ip-header-bad": (12, 0),
    "required-option-missing": (12, 1), "timestamp-request": (13, 0),
    "timestamp-reply": (14, 0), "address-mask-request": (17, 0), "address-mask-reply": (18, 0),
})
ICMPV6_TYPES: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({
    "no-route": (1, 0), "communication-prohibited": (1, 1), "address-unreachable": (1, 3),
    "port-unreachable": (1, 4), "packet-too-big": (2, 0), "ttl-zero-during-transit": (3, 0),
    "ttl-zero-during-reassembly": (3, 1), "bad-header": (4, 0), "unknown-header-type": (4, 1),
    "unknown-option": (4, 2), "echo-request": (128, 0), "ping": (128, 0),
    "echo-reply": (129, 0), "pong": (129, 0), "router-solicitation": (133, 0),
    "router-advertisement": (134, 0), "neighbour-solicitation": (135, 0),
    "neighbour-advertisement": (136, 0), "redirect": (137, 0),
})

# A few /etc/services names; ipset resolves any, but a parser must not depend on the host.
SERVICES: Final[Mapping[str, int]] = MappingProxyType({
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53,
    "bootps": 67, "bootpc": 68, "tftp": 69, "http": 80, "www": 80, "kerberos": 88,
    "pop3": 110, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
    "netbios-ssn": 139, "imap": 143, "imap2": 143, "snmp": 161, "snmp-trap": 162, "bgp": 179,
    "ldap": 389, "https": 443, "microsoft-ds": 445, "isakmp": 500, "syslog": 514,
    "submission": 587, "ldaps": 636, "rsync": 873, "imaps": 993, "pop3s": 995,
    "openvpn": 1194, "ms-sql-s": 1433, "nfs": 2049, "mysql": 3306, "ms-wbt-server": 3389,
    "sip": 5060, "postgresql": 5432, "x11": 6000, "http-alt": 8080,
})

CREATE_FLAGS: Final = frozenset({"counters", "comment", "skbinfo", "forceadd"})
CREATE_VALUED: Final = frozenset({
    "family", "hashsize", "maxelem", "bucketsize", "initval", "timeout", "netmask", "bitmask",
    "range", "markmask", "size", "revision", "network", "from", "to", "probes", "resize",
})
IGNORED_OLD_OPTIONS: Final = frozenset({"probes", "resize"})
MEMBER_FLAGS: Final = frozenset({"nomatch", "wildcard"})
MEMBER_VALUED: Final = frozenset({
    "timeout", "packets", "bytes", "comment", "skbmark", "skbprio", "skbqueue", "before", "after",
})
COMMANDS: Final = {
    "create": "create", "-N": "create", "--create": "create", "n": "create",
    "add": "add", "-A": "add", "--add": "add", "a": "add",
    "del": "del", "-D": "del", "--del": "del",
    "test": "test", "-T": "test", "--test": "test",
    "flush": "flush", "-F": "flush", "--flush": "flush",
    "destroy": "destroy", "-X": "destroy", "--destroy": "destroy", "x": "destroy",
    "rename": "rename", "-E": "rename", "--rename": "rename", "e": "rename",
    "swap": "swap", "-W": "swap", "--swap": "swap", "w": "swap",
    "commit": "commit",
}
GLOBAL_FLAGS: Final = frozenset({"-exist", "--exist", "-!", "-quiet", "--quiet", "-q"})
LIST_KEYS: Final = frozenset({
    "name", "type", "revision", "header", "size in memory", "references", "number of entries",
    "members", "default binding", "bindings",
})
