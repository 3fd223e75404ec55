//! Zebra-Zeal on embedded defaults, for `zeal demo` and laptops: a real Kafka-protocol broker
//! running in-process ([`broker`], tansu with sqlite storage) and the embedded store
//! ([`store`], Parquet files queried with SQL through polars). With these nothing has to be
//! installed; with `--kafka` / `--clickhouse` the same services talk to real servers.

pub mod broker;
pub mod store;
