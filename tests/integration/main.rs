//! Integration tests: the real `httpd` binary on loopback, driven with raw bytes.

mod cli;
mod connections;
mod pool;
mod protocol;
mod security;
mod serving;
mod uploads;
mod util;
