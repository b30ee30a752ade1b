import sys

from faceforge.cli import main

sys.exit(main())
