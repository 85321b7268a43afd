//! Helpers shared by the integration tests that run a real `nextbest serve` process.

// Each test binary uses what it needs of these.
#![allow(dead_code)]

pub mod http;
