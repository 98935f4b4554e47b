"""The faces of Maillage: settings, the ``maillage`` CLI (and, later, the HTTP API, widget, console)."""
