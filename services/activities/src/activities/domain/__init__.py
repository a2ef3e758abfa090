"""Rules of the activities service, pure: no database, no broker."""
