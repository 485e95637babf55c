//! Pure, I/O-free analysis of a delivered message: how it was authenticated
//! (`Authentication-Results`) and the path and timing it took (`Received`).

pub mod auth_results;
pub mod hops;
