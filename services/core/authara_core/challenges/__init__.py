"""Email challenges: signup verification, password reset and email change by emailed code."""
