"""The reviewers' console: server-rendered pages (Jinja2) over the same service functions and
authorization as the API. No front-end build step; a few lines of plain JavaScript at most."""

from api.console.routes import install, router

__all__ = ["install", "router"]
