"""`python -m engine.local prepare [MODEL ...]`: join and verify the weights.

(`serve` is the server child.)"""

from engine.local.server import main

raise SystemExit(main())
