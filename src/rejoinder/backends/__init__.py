"""One module per engine; see rejoinder.registry for the names they are registered under."""
