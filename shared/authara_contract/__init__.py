"""Authara's public contract, shared by core, gateway, migrations and the dev stack.

Everything a client, an SDK or another Authara service can observe on the wire lives here as
constants: cookie names and attributes, route paths, header names, error codes and the error
envelope, JWT claim names and the access-token codec, the return_to rule and the table of
environment variables. Services import these; nothing redefines them.
"""

VERSION = "0.1.0"
