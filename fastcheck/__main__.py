import sys

from fastcheck.cli import main

sys.exit(main())
