import sys

from segur_ris.cli import main

sys.exit(main())
