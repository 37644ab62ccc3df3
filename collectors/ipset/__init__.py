"""Parse `ipset save`/`ipset restore` and `ipset list` output into immutable values.

Pure standard library. One call, `parse_ipset_save(text, filename)`, detects the format:
the restore syntax (`create`/`add`/`del`/`flush`/`destroy`/`rename`/`swap`, the ipset 6
letters `-N`/`-A`/... and the ipset 4 type names `iphash`, `nethash`, ...), or the
`Name:`/`Type:`/`Header:`/`Members:` blocks of `ipset list`. Lines that cannot be understood
raise `IpsetParseError` (file:line:col); options that are not known are kept and reported as
`ParseWarning`s. Elements keep what was written: addresses and CIDRs as networks, ranges as
`AddressRange`, ports as `PortValue`, interfaces as `Interface`, MACs as lower-case text,
marks as ints and list:set members as set names. Membership semantics live in
`webapp.engine.iptables.ipsets`.
"""

from collectors.errors import ParseError, ParseWarning
from collectors.ipset.names import (
    ICMP,
    ICMP_TYPES,
    ICMPV6,
    ICMPV6_TYPES,
    PORT_PROTOCOLS,
    PROTOCOLS,
    SERVICES,
    SET_TYPES,
)
from collectors.ipset.parser import detect_format, parse_ipset_save
from collectors.ipset.values import (
    Address,
    AddressRange,
    ElementValue,
    Interface,
    IpSet,
    IpSetDump,
    IpsetParseError,
    Network,
    PortValue,
    SetMember,
)

__all__ = [
    "ICMP", "ICMPV6", "ICMPV6_TYPES", "ICMP_TYPES", "PORT_PROTOCOLS", "PROTOCOLS", "SERVICES",
    "SET_TYPES", "Address", "AddressRange", "ElementValue", "Interface", "IpSet", "IpSetDump",
    "IpsetParseError", "Network", "ParseError", "ParseWarning", "PortValue", "SetMember",
    "detect_format", "parse_ipset_save",
]
