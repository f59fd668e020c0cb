//! The SQL implementation of the repository traits, one module per trait.
//! Queries are shared by both backends: `$N` placeholders, portable types.

mod access;
mod advisories;
mod alerts;
mod assets;
mod audit;
mod credentials;
mod inventory;
mod meta;
mod sessions;
mod throttle;
mod tunnels;
mod users;
mod zones;
