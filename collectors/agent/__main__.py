"""`python3 -m collectors.agent`."""

import sys

from collectors.agent.cli import main

sys.exit(main())
