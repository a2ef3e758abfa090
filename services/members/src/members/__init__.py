"""The members service: member records, batch import, reviews, spot checks."""
