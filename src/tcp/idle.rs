//! Memory an idle connection gives back: a load test holds a million
//! connections, and each must cost what its state needs now, not what
//! its busiest moment needed.

use std::collections::VecDeque;

/// Gives a drained queue's memory back: an idle connection keeps no
/// buffer, however busy it once was (a load test holds a million).
pub(super) fn release_if_empty<T>(q: &mut VecDeque<T>) {
    if q.is_empty() && q.capacity() > 0 {
        *q = VecDeque::new();
    }
}
