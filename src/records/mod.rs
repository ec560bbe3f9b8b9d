//! Student records: import (bindings are carried out by `crate::tasks`).

pub mod import;
