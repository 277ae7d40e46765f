"""`python -m engine.local prepare [MODEL ...]`: join and verify the weights.

(`serve` is the server child.)"""

from engine.local.commands import main

raise SystemExit(main())
