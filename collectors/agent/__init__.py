"""The Segscope agent: pushes a host's rule dumps and flow logs to the server (docs/ingest.md).

Standard library only, Python 3.9 or newer, so that it runs on a bare host:
`python3 -m collectors.agent --server URL --token-file FILE` (or `segscope agent ...`).
"""

from collectors.agent.cli import add_agent_parser, main, run_agent
from collectors.agent.protocol import snapshot_hash

__all__ = ["add_agent_parser", "main", "run_agent", "snapshot_hash"]
