"""Import the real `shared` and `gateway` packages before pytest names test modules after the
top-level folders of the same names (importlib import mode would otherwise shadow them)."""

import gateway  # noqa: F401
import shared  # noqa: F401
