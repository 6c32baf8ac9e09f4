//! JSON reading and writing for the cache document: a span-reporting
//! validating scanner, and Python's `json.dumps(indent=4)` layout.

pub(crate) mod py;
pub(crate) mod scan;
