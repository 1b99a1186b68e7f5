import sys

from mynacard.cli import main

sys.exit(main())
