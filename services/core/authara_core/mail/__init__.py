"""Email: the outbox of mails to send, the workers that send them, their templates."""
