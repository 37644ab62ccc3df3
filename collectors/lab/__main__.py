"""`python -m collectors.lab ...`: the same as `segscope lab ...`."""

import sys

from collectors.lab.cli import main

sys.exit(main())
