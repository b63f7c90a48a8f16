"""One module per screen; each is a ConsoleScreen fed by a thread worker."""
