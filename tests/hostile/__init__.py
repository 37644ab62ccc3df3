"""An attacker's fleet: the demo bundle with every text an attacker controls (rule comments,
NFLOG prefixes, workload names and labels, segment names, ipset set names, nft tables, chains
and comments, flow-log fields, a host name) replaced by markup, quotes, `</textarea>`,
`javascript:` URLs, control characters and spreadsheet formula starters."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from collectors.controlplane import LOG_PREFIX, quoted

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "demo"

# Each payload would set window.__pwned, open a dialog or load an image if a page ran it.
SEGMENTS = {
    "web": "=web<script>window.__pwned='segment'</script>\"'</textarea>\x07",
    "payments": "+payments<img src=x onerror=alert('segment')>",
    "ledger": "-ledger<svg onload=window.__pwned='ledger'>",
    "cache": "@cache<a href=\"javascript:window.__pwned='cache'\">x</a>",
}
# The label values the segments select, as the inventory carries them.
LABELS = {
    "web": "\tweb\"'<b>bold</b></textarea><script>window.__pwned='label'</script>",
    "payments": "\rpayments<iframe src=javascript:alert(1)>",
    "ledger": "ledger</title><script>alert('label')</script>",
    "cache": "cache'><img src=x onerror=window.__pwned='label'>",
}
WORKLOAD = "=HYPERLINK(\"javascript:alert(1)\")<script>window.__pwned='workload'</script>"
HOST = "@node-03<img src=x onerror=alert('host')>\"'"
COMMENT = ("=cmd|' /C calc'!A0 <script>window.__pwned='comment'</script> \"q\" "
           "</textarea><img src=x onerror=alert(1)> javascript:alert(1) \x1b[31m")
SET = "seg-<svg/onload=alert(1)>"
NFT_TABLE = "=t<script>window.__pwned='table'</script>"
NFT_CHAIN = "+c\"'</textarea><img src=x onerror=alert('chain')>"
NFT_COMMENT = "-nft <script>window.__pwned='nft'</script> javascript:alert(1)\x07"
INTERFACE = "@eth0<b>x"

# Every payload, for the checks that none of it is lost or changed on its way out.
ALL = {"segment": SEGMENTS["web"], "label": LABELS["web"], "workload": WORKLOAD,
       "host": HOST, "comment": COMMENT, "set": SET, "nft table": NFT_TABLE,
       "nft chain": NFT_CHAIN, "nft comment": NFT_COMMENT}


def workload(name: str) -> str:
    """The attacker's name of a demo workload."""
    return f"{WORKLOAD}{name}"


def _host(name: str) -> str:
    return HOST if name == "node-03" else name


def write_hostile_bundle(target: Path) -> Path:
    """The demo bundle rewritten with the payloads, in `target`."""
    shutil.copytree(DEMO, target)
    inventory = yaml.safe_load((target / "inventory.yaml").read_text())
    names = [w["name"] for w in inventory["workloads"]]
    for entry in inventory["hosts"]:
        entry["name"] = _host(entry["name"])
    for entry in inventory["workloads"]:
        entry["name"] = workload(entry["name"])
        entry["host"] = _host(entry["host"])
        entry["labels"]["app"] = LABELS[entry["labels"]["app"]]
    _dump(target / "inventory.yaml", inventory)
    for path in (target / "intent").iterdir():
        _dump(path, _intent(yaml.safe_load(path.read_text())))
    for host in (target / "hosts").iterdir():
        for snapshot in host.iterdir():
            _rewrite_dumps(snapshot, names)
    for path in (target / "flows").iterdir():
        lines = [_flow(json.loads(line), names) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (target / "hosts" / "node-03").rename(target / "hosts" / HOST)
    (target / "flows" / "node-03.ulogd2.json").rename(target / "flows" / f"{HOST}.ulogd2.json")
    return target


def _dump(path: Path, document: dict[str, Any]) -> None:
    # JSON is YAML, and keeps control characters as escapes.
    path.write_text(json.dumps(document, default=str, indent=1))


def _intent(intent: dict[str, Any]) -> dict[str, Any]:
    intent["segments"] = {SEGMENTS[name]: {**selector, "app": LABELS[selector["app"]]}
                          for name, selector in intent["segments"].items()}
    for allow in intent["allow"]:
        allow["from"], allow["to"] = SEGMENTS[allow["from"]], SEGMENTS[allow["to"]]
    return intent


def _rewrite_dumps(snapshot: Path, names: list[str]) -> None:
    for dump in ("iptables-save", "ip6tables-save", "ipset-save"):
        path = snapshot / dump
        if not path.exists():
            continue
        text = path.read_text().replace("seg-web", SET)
        for name in names:
            text = text.replace(f'"{LOG_PREFIX}{name}"', quoted(LOG_PREFIX + workload(name)))
        text = text.replace('"allow web -> payments"', quoted(COMMENT))
        path.write_text(text)
    nft = snapshot / "nft.json"
    document = json.loads(nft.read_text())
    document["nftables"] += [
        {"table": {"family": "inet", "name": NFT_TABLE, "handle": 90}},
        {"chain": {"family": "inet", "table": NFT_TABLE, "name": NFT_CHAIN, "handle": 1}},
        {"rule": {"family": "inet", "table": NFT_TABLE, "chain": NFT_CHAIN, "handle": 2,
                  "comment": NFT_COMMENT,
                  "expr": [{"counter": {"packets": 3, "bytes": 180}}, {"accept": None}]}},
    ]
    nft.write_text(json.dumps(document))


def _flow(record: dict[str, Any], names: list[str]) -> dict[str, Any]:
    prefix = record.get("oob.prefix", "")
    for name in names:
        if prefix == f"segscope-drop {name}":
            record["oob.prefix"] = f"segscope-drop {workload(name)}"
    if record.get("oob.in"):
        record["oob.in"] = INTERFACE
    return record
