"""`python -m deploy.launcher up|down|infra|env`: runs the command line."""

import sys

from deploy.launcher.cli import main

if __name__ == "__main__":
    sys.exit(main())
