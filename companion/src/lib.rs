//! The companion: runs next to a Syncthing node.
