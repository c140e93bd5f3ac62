import sys

from sarflow.cli import main

sys.exit(main())
