"""A kernel log of iptables LOG lines, as syslog writes them with ISO times (RFC 5424)."""

_LINE = ("2026-11-26T03:{time}+00:00 node-01 kernel: [8123.456789] seg-{verdict}: IN={iface} "
         "OUT= MAC=ee:ee:ee:ee:ee:ee:aa:bb:cc:dd:ee:ff:08:00 SRC={src} DST={dst} LEN=60 "
         "TOS=0x00 PREC=0x00 TTL=64 ID=1001 DF PROTO=TCP SPT={sport} DPT={dport} WINDOW=64240 "
         "RES=0x00 SYN URGP=0")


def kernel_log_line(time: str, verdict: str, src: str, dst: str, sport: int, dport: int,
          iface: str = "cali1a2b3c") -> str:
    return _LINE.format(time=time, verdict=verdict, iface=iface, src=src, dst=dst, sport=sport,
                        dport=dport)


# Minute 03:00: three SYNs from payments to ledger:5432 dropped (three source ports), one ssh
# accepted; minute 03:01: one more drop, one line with a bad address, one non-LOG kernel line.
KERNEL_LOG = "\n".join([
    kernel_log_line("00:05.120000", "DROP", "10.1.0.5", "10.1.0.9", 40001, 5432),
    kernel_log_line("00:06.120000", "DROP", "10.1.0.5", "10.1.0.9", 40002, 5432),
    kernel_log_line("00:07.120000", "DROP", "10.1.0.5", "10.1.0.9", 40003, 5432),
    kernel_log_line("00:08.120000", "ACCEPT", "192.0.2.50", "192.0.2.11", 50000, 22, iface="eth0"),
    kernel_log_line("01:05.120000", "DROP", "10.1.0.5", "10.1.0.9", 40004, 5432),
    kernel_log_line("01:06.120000", "DROP", "10.1.0.300", "10.1.0.9", 40005, 5432),
    "2026-11-26T03:01:07+00:00 node-01 kernel: [8185.000000] e1000e: eth0 NIC Link is Up",
]) + "\n"
