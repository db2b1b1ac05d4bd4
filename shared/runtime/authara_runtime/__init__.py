"""Authara's process runtime, shared by core, the gateway and the migrations job.

Everything a service process does that is not its own business: catching stop signals from
the first line of the program to its exit, serving an aiohttp app until stopped and draining
it, several workers on one port, the event loop, logging, the health check, request ids,
reading Cookie headers and the direct dispatch of fixed-path routes. Importing this package
imports nothing else: the entry points import it before anything heavy.
"""
