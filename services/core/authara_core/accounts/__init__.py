"""Sign-up, log-in and passwords: the users table is this domain's."""
