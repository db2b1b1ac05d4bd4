"""HTTP layer: routes, handlers, middlewares, cookies and templates."""
