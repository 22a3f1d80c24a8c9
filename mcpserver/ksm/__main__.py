"""`python -m mcpserver.ksm DATABASE`: the objects-mode renderer process (see `renderer`).

An entry module of its own, so that running it does not execute a module
the package has already imported.
"""

import sys

from mcpserver.ksm.renderer import main

sys.exit(main(sys.argv[1:]))
