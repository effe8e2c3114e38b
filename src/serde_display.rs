//! Serializing values by their `Display` form (addresses, MACs), for the
//! JSON that `report` and `lab` write: `#[serde(serialize_with = ...)]`.

use std::fmt::Display;

use serde::Serializer;

/// `v` as its text.
pub fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// `v` as its text, or null.
pub fn display_opt<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// Each of `v` as its text, in a list.
pub fn display_all<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}
