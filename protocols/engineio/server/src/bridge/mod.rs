//! The fabric bridge.
