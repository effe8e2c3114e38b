//! Duplicate address detection of several IPv6 addresses at once
//! (`nettool load --sources` over IPv6): one [`Claim`] per address, run
//! side by side on one link, so checking k addresses takes the time of
//! one check (RetransTimer), not k of them.

use std::net::Ipv6Addr;

use super::claim::{Claim, Config, Event};
use crate::machine::{Machine, RxChecksum};
use crate::time::Instant;

/// The claims, in the order their addresses were given.
pub struct ClaimAll {
    claims: Vec<Claim>,
    targets: Vec<Ipv6Addr>,
}

impl ClaimAll {
    /// One claim of `config`'s kind for each of `targets`.
    pub fn new(now: Instant, config: &Config, targets: &[Ipv6Addr]) -> ClaimAll {
        let claims = targets
            .iter()
            .map(|t| {
                Claim::new(
                    now,
                    Config {
                        target: *t,
                        ..config.clone()
                    },
                )
            })
            .collect();
        ClaimAll {
            claims,
            targets: targets.to_vec(),
        }
    }

    /// Each address, and who claims it (`None`: nobody did).
    pub fn outcome(&self) -> impl Iterator<Item = (Ipv6Addr, Option<crate::wire::MacAddr>)> + '_ {
        self.targets
            .iter()
            .zip(&self.claims)
            .map(|(t, c)| (*t, c.claimed_by()))
    }
}

impl Machine for ClaimAll {
    /// An address's claim's event.
    type Event = (Ipv6Addr, Event);

    fn handle_frame(&mut self, now: Instant, frame: &[u8], checksum: RxChecksum) {
        for c in &mut self.claims {
            c.handle_frame(now, frame, checksum);
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        for c in &mut self.claims {
            c.handle_timeout(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.claims.iter_mut().find_map(|c| c.poll_transmit(now))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.claims.iter().filter_map(Claim::poll_timeout).min()
    }

    fn poll_event(&mut self) -> Option<Self::Event> {
        self.targets
            .iter()
            .zip(&mut self.claims)
            .find_map(|(t, c)| c.poll_event().map(|e| (*t, e)))
    }

    fn is_done(&self) -> bool {
        self.claims.iter().all(Claim::is_done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ndp::claim::Mode;
    use crate::wire::MacAddr;
    use crate::wire::icmpv6::Icmpv6Repr;
    use crate::wire::ipv6::{ALL_NODES, multicast_mac};
    use crate::wire::ndp::{NaFlags, NdpRepr};
    use std::time::Duration;

    const US: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
    const OWNER: MacAddr = MacAddr(2, 0, 0, 0, 0, 9);

    fn addr(i: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x6e74, 1, 0, 0, 0, 0, i)
    }

    fn config() -> Config {
        Config {
            mode: Mode::Dad,
            mac: US,
            target: Ipv6Addr::UNSPECIFIED,
            tries: 1,
            interval: Duration::from_secs(1),
            wait: Duration::from_secs(1),
        }
    }

    /// Three addresses checked in the time of one; the owner of the
    /// second defends it, and only it is taken.
    #[test]
    fn all_are_checked_at_once_and_each_answer_counts_for_its_own() {
        let t0 = Instant::ZERO;
        let mut all = ClaimAll::new(t0, &config(), &[addr(1), addr(2), addr(3)]);
        all.handle_timeout(t0);
        let mut sent = 0;
        while all.poll_transmit(t0).is_some() {
            sent += 1;
        }
        assert_eq!(sent, 3, "one solicitation each, together");
        assert_eq!(all.poll_timeout(), Some(t0 + Duration::from_secs(1)));
        let defence = Icmpv6Repr::Ndp(NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: false,
                solicited: false,
                override_: true,
            },
            target: addr(2),
            target_lladdr: Some(OWNER),
        })
        .frame((OWNER, multicast_mac(ALL_NODES)), (addr(2), ALL_NODES));
        let half = t0 + Duration::from_millis(500);
        all.handle_frame(half, &defence, RxChecksum::Unknown);
        assert!(!all.is_done());
        let end = t0 + Duration::from_secs(1);
        all.handle_timeout(end);
        assert!(all.is_done());
        let got: Vec<_> = all.outcome().collect();
        assert_eq!(
            got,
            [(addr(1), None), (addr(2), Some(OWNER)), (addr(3), None)]
        );
        let mut claimed = Vec::new();
        while let Some((t, e)) = all.poll_event() {
            if let Event::Claimed { mac, .. } = e {
                claimed.push((t, mac));
            }
        }
        assert_eq!(claimed, [(addr(2), OWNER)]);
    }
}
