"""One module per schema revision, oldest first. Never edit a released revision: add one."""
