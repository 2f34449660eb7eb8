"""`python -m reasonrl ...` (and `torchrun -m reasonrl ...`): the same as the `reasonrl` command."""
import sys

from reasonrl.cli import main

if __name__ == "__main__":
    sys.exit(main())
