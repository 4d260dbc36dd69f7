"""`python -m callctl`: the same as the `callctl` command."""

import sys

from callctl.main import main

sys.exit(main())
