"""The tenant web console: server-rendered templates with htmx."""
