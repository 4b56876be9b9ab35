"""`python -m argus_streams.cli` is the `argus-streams` command."""

import sys

from argus_streams.cli import main

sys.exit(main())
