pub mod health;
pub mod keys;
