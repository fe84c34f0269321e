"""Members: shoppers, their logins (own password or an external OpenID Connect provider),
OAO as an OpenID Connect provider for merchants' systems, consents, rotating member codes."""
