"""`rejoinder soak`: a reliability run against a real server, with abuse mixed in (see docs/soak.md)."""
