"""The admin console's pages: pure rendering (page models in, HTML out), form parsing and the views gathered from
the services (docs/console.md)."""
