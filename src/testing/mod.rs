//! `loyalty test`: test files that replay events through a program and check the results.

pub mod diff;
pub mod json;
pub mod junit;
pub mod model;
pub mod runner;
pub mod snapshot;
