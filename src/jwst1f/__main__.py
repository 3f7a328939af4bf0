"""Allow ``python -m jwst1f``."""

import sys

from jwst1f.cli import main

sys.exit(main())
