//! Integration tests: the real `httpd` binary on loopback, driven with raw bytes.

mod cli;
mod config;
mod connections;
mod corpus;
mod deployment;
mod durability;
mod engine;
mod pool;
mod production;
mod protocol;
mod scheduling;
mod security;
mod semantics;
mod serving;
mod shutdown;
mod site;
mod tls;
mod uploads;
mod util;
