//! Sentinel through the store, on the test bed.
