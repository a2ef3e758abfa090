"""The transfers service: organisation-relationship transfers."""
