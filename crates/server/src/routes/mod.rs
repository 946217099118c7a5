pub mod accounts;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod health;
pub mod keys;
pub mod sources;
