"""The fees service: dues profiles, cycles, bills, payments, remittances."""
