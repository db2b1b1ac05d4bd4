"""The demo app `authara dev` puts behind the gateway: an example, not part of Authara."""
