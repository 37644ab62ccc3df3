"""The auditors' export: what an archive holds, writing it byte for byte the same every time,
and checking one with no database."""
