"""Suite-wide settings."""

from __future__ import annotations

import os

# AppTest pages must not start the embedded model in the background (the tests that want the
# local model start it themselves); it would only compete for the two cores.
os.environ.setdefault("FIELDSTREAM_WARM_LOCAL", "0")
