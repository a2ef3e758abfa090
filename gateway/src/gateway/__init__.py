"""智慧团建 gateway: the one public entry (authentication, scope, routing, tracing)."""
