"""Pure rules of member records and their batch import (no I/O)."""
