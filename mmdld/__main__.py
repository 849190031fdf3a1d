"""``python -m mmdld``: prints the installed stack and whether mmdld supports it."""
import sys

from mmdld.utils.env_check import main

sys.exit(main())
