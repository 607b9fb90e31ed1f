//! Test support: start and stop the real components on free loopback ports.
