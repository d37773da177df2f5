//! Real Syncthing nodes for tests and the demo.
