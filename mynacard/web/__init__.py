"""The clerks' web page, served by the same app at ``/`` (server-rendered templates)."""
