//! Test harness: a private `nats-server` on a free loopback port and a fresh PostgreSQL database
//! per test, both cleaned up on drop.
//!
//! Neither skips when its server is missing: a test that cannot get its infrastructure fails and
//! says how to get it (`make up`).

mod cluster;
mod nats;
mod postgres;

pub use cluster::NatsCluster;

pub use nats::{NatsServer, NatsUser};
pub use postgres::{TestDatabase, STALE_AFTER};
