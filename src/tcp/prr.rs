//! Proportional Rate Reduction (RFC 6937): how much may be sent on each
//! ACK during SACK-based fast recovery. Instead of dropping cwnd to
//! ssthresh at once (and sending nothing until pipe falls below it), PRR
//! spreads the reduction over the recovery round trip: while pipe is
//! above ssthresh, it sends `ssthresh / RecoverFS` of what was delivered;
//! once pipe has fallen below ssthresh (many losses), PRR-SSRB lets it
//! grow back towards ssthresh by at most one segment more than was
//! delivered per ACK (slow start, reduction bound).

/// The PRR state of one recovery episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prr {
    /// prr_delivered: octets delivered to the receiver since recovery began.
    pub delivered: usize,
    /// prr_out: octets sent since recovery began.
    pub out: usize,
    /// RecoverFS: FlightSize when recovery began.
    pub recover_fs: usize,
}

impl Prr {
    /// Recovery begins with `flight` octets outstanding.
    pub fn start(flight: usize) -> Prr {
        Prr {
            delivered: 0,
            out: 0,
            recover_fs: flight.max(1),
        }
    }

    /// `len` octets (new data or a retransmission) went out.
    pub fn on_send(&mut self, len: usize) {
        self.out += len;
    }

    /// An ACK in recovery delivered `delivered` octets (DeliveredData:
    /// the change in SND.UNA plus the newly SACKed octets); returns
    /// sndcnt, the octets that may be sent now (RFC 6937 §3.1, with the
    /// PRR-SSRB bound when `pipe` is at or below ssthresh). The first
    /// transmission of a recovery, the fast retransmit, is always allowed.
    pub fn on_ack(&mut self, delivered: usize, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        self.delivered += delivered;
        let sndcnt = if pipe > ssthresh {
            // Proportional: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
            let due = (self.delivered as u128 * ssthresh as u128).div_ceil(self.recover_fs as u128);
            (due as usize).saturating_sub(self.out)
        } else {
            // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS.
            let limit = self.delivered.saturating_sub(self.out).max(delivered) + mss;
            (ssthresh - pipe).min(limit)
        };
        if self.out == 0 {
            sndcnt.max(mss)
        } else {
            sndcnt
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const MSS: usize = 1000;

    /// RFC 6937 §4's example shape: 20 segments in flight, ssthresh 10:
    /// after the fast retransmit, one segment sent for every two
    /// delivered while pipe > ssthresh (whole segments only, as the
    /// engine sends them).
    #[test]
    fn proportional_part_sends_half_of_what_is_delivered() {
        let mut prr = Prr::start(20 * MSS);
        let mut pipe = 19 * MSS; // one lost
        let mut sent = Vec::new();
        for _ in 0..8 {
            let n = prr.on_ack(MSS, pipe, 10 * MSS, MSS) / MSS * MSS;
            pipe -= MSS;
            prr.on_send(n);
            pipe += n;
            sent.push(n / MSS);
        }
        assert_eq!(sent, [1, 0, 0, 1, 0, 1, 0, 1]);
    }

    #[rstest]
    // pipe 4 below ssthresh 10, nothing sent yet: the fast retransmit plus
    // what was delivered, up to ssthresh - pipe.
    #[case::first_ack(0, 0, 4, 2, 3)]
    // Delivered 5, sent 5: the bound is DeliveredData + MSS.
    #[case::bound_by_delivered(5, 5, 4, 2, 3)]
    // Delivered far more than sent: catch up, capped by ssthresh - pipe.
    #[case::capped_by_ssthresh(10, 1, 7, 1, 3)]
    fn ssrb_bounds_the_growth_below_ssthresh(
        #[case] delivered_before: usize,
        #[case] out_before: usize,
        #[case] pipe: usize,
        #[case] delivered: usize,
        #[case] want: usize,
    ) {
        let mut prr = Prr {
            delivered: delivered_before * MSS,
            out: out_before * MSS,
            recover_fs: 20 * MSS,
        };
        let got = prr.on_ack(delivered * MSS, pipe * MSS, 10 * MSS, MSS);
        assert_eq!(got, want * MSS);
    }
}
