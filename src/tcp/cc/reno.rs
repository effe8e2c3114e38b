//! Reno's congestion avoidance (RFC 5681 §3.1): one SMSS per cwnd of
//! acknowledged octets, counted in bytes (RFC 3465).

/// `acked` octets acknowledged in congestion avoidance; `ca_acked`
/// carries the octets counted since cwnd last grew.
pub fn congestion_avoidance(cwnd: &mut usize, ca_acked: &mut usize, acked: usize, mss: usize) {
    *ca_acked += acked;
    if *ca_acked >= *cwnd {
        *ca_acked -= *cwnd;
        *cwnd += mss;
    }
}

/// Reno's multiplicative decrease (RFC 5681 §3.2 step 2, equation 4):
/// half the flight, at least two segments.
pub fn ssthresh(flight: usize, mss: usize) -> usize {
    (flight / 2).max(2 * mss)
}
